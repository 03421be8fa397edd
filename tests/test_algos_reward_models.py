"""Reward models: strict parsing, the rule-based default, the HTTP and local-HF backends."""

import re

import pytest
from chat_server import ChatServer, completion

from algos.reward_models import (
    AGENT_RUBRIC,
    THINKING_RUBRIC,
    RewardModelError,
    RuleRewardModel,
    parse_rrm_output,
    parse_thinking_score,
)

# -- parser -------------------------------------------------------------------------------


def test_parse_valid_output():
    out = parse_rrm_output(
        "<think> step 1 ok </think>\n<critique>Search the archive first.</critique>\n<score>0.7</score>\n"
    )
    assert out.valid and out.error is None
    score, critique, reasoning = out
    assert (score, critique, reasoning) == (0.7, "Search the archive first.", "step 1 ok")
    assert parse_rrm_output("<think></think><critique></critique><score>1</score>").score == 1.0
    assert parse_rrm_output("<think>a</think><critique>b</critique><score> .25 </score>").score == 0.25


# The Reagent release reads the first <score>\s*([\d.]+)\s*</score> anywhere, any case; a score
# it cannot read or outside [0, 1] gives its minimum, 0.
@pytest.mark.parametrize(
    "text, score, critique",
    [
        ("<score>0.6</score>", 0.6, ""),  # <score> alone
        ("Sure! Here is my review. <think>a</think><critique>b</critique><score>0.5</score>", 0.5, "b"),  # preamble
        ("<THINK>a</THINK><Critique>b</Critique><SCORE>0.4</SCORE>", 0.4, "b"),  # upper-case tags
        ("<think>a</think><critique>b</critique><score>0.3</score>\n<score>0.9</score>", 0.3, "b"),  # first wins
        ("<think>a</think><critique>b</critique><score>0.5</score> done", 0.5, "b"),  # text after
        ("<critique>b</critique><think>a</think><score>\n0.8\n</score>", 0.8, "b"),  # any order
    ],
)
def test_parse_reads_scores_as_the_release_does(text, score, critique):
    out = parse_rrm_output(text)
    assert out.valid and out.error is None
    assert (out.score, out.critique) == (score, critique)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "no <score> block"),
        ("<think>a</think><critique>b</critique>", "no <score> block"),
        ("<think>a</think><critique>b</critique><score>5e-1</score>", "no <score> block"),  # exponent: not read
        ("<think>a</think><critique>b</critique><score>-0.1</score>", "no <score> block"),  # negative: not read
        ("<think>a</think><critique>b</critique><score>0.7/1</score>", "no <score> block"),
        ("<think>a</think><critique>b</critique><score>nan</score>", "no <score> block"),
        ("<think>a</think><critique>b</critique><score>inf</score>", "no <score> block"),
        ("<think>a</think><critique>b</critique><score></score>", "no <score> block"),
        ("<think>a</think><critique>b</critique><score>1.2.3</score>", "not a number"),
        ("<think>a</think><critique>b</critique><score>1.5</score>", r"outside \[0, 1\]"),
        ("<think>a</think><critique>b</critique><SCORE>1.01</SCORE><score>0.5</score>", r"outside \[0, 1\]"),
        (None, "expected text"),
    ],
)
def test_parse_malformed_is_defined(text, reason):
    out = parse_rrm_output(text)
    assert not out.valid
    assert out.score == 0.0
    assert out.error.startswith("malformed reward model output") and re.search(reason, out.error)
    assert parse_rrm_output(text, fallback_score=0.5).score == 0.5


@pytest.mark.parametrize(
    "text, score",
    [
        ("<answer>0.7</answer>", 0.7),  # the format SophiaVL's thinking reward model is asked for
        ("The reasoning is mostly sound.\n<answer> 0.8 </answer>", 0.8),
        ("0.6", 0.6),  # a bare number
        ("Score: 0.9.", 0.9),
        ("\\boxed{0.6}", 0.6),
        ("\\box{1}", 1.0),
        ("<answer>1.5</answer>", 1.0),  # clipped to [0, 1]
        ("<answer>-0.2</answer>", 0.0),
        ("<answer>0.75</answer>", 0.75),  # the whole number (the release's one-decimal pattern reads 0)
        ("\\boxed{0.3} then <answer>0.9</answer>", 0.3),  # the release's order: boxed first
        ("Score: 7 out of 10", None),  # no standalone 0 or 1 (the release gives its fallback 0)
        ("<score>0.7</score>", 0.7),  # the bare-number rule reads a number in any tag
        ("7/10", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_thinking_score(text, score):
    assert parse_thinking_score(text) == score


# -- rule-based default -------------------------------------------------------------------


def test_rule_reward_model_checks():
    rm = RuleRewardModel()
    chat = [
        {"role": "user", "content": "Which river flows through the capital city?"},
        {
            "role": "assistant",
            "content": '<think>The capital city sits on a river.</think><tool_call>{"name": "s"}</tool_call>',
        },
        {"role": "user", "content": "<tool_response>...</tool_response>"},
        {
            "role": "assistant",
            "content": "<think>The river is named in the article.</think><answer>Foo</answer>",
        },
    ]
    # format 1, answered 1, 12 distinct trigrams of 12 -> 1, all Latin -> 1,
    # question words river flows through capital city: 3 of 5 mentioned -> .6 ; mean .92 -> .9
    out = rm.score("Which river flows through the capital city?", chat)
    assert out.valid and out.score == 0.9
    assert "relevance=0.60" in out.reasoning and "mean=0.920" in out.reasoning
    assert "flows, through" in out.critique and "Foo" not in out.critique

    # no answer, "go" x5 -> 1 distinct of 3 trigrams; no content words in "Where?"
    # (1 + 0 + 1/3 + 1 + 1) / 5 = .6667 -> .7
    out = rm.score("Where?", "<think>go go go go go</think><tool_call>{}</tool_call>")
    assert out.score == 0.7 and "without a final <answer>" in out.critique and "repeats" in out.critique

    # 5 Latin letters, 3 Cyrillic -> language .625 ; mean (4 + .625)/5 = .925 -> .9
    out = rm.score("Where?", "<think>hello мир</think><answer>x</answer>")
    assert "language=0.62" in out.reasoning and out.score == 0.9

    # nothing usable at all
    out = rm.score("Name the river", "")
    assert out.score == pytest.approx(0.4) and "format=0.00" in out.reasoning


# -- OpenAI-compatible HTTP backend (a local server on 127.0.0.1 only) ----------------------

VALID = "<think>fine</think><critique>Check the second source.</critique><score>0.8</score>"


def _server() -> ChatServer:
    """Serves the queued ``server.replies`` ((status, body) pairs), then valid critiques."""
    srv = ChatServer(lambda i: srv.replies.pop(0) if srv.replies else (200, completion(VALID)))
    srv.replies = []
    return srv


@pytest.fixture
def server():
    with _server() as s:
        yield s


def _rm(server, **kw):
    from algos.reward_models import OpenAIRewardModel

    return OpenAIRewardModel(server.api, "rrm-test", api_key="k", backoff=0.0, timeout=5.0, **kw)


def test_http_backend_scores(server):
    out = _rm(server).score("Q?", [{"role": "assistant", "content": "<answer>A</answer>"}])
    assert out.valid and tuple(out) == (0.8, "Check the second source.", "fine")
    first = server.requests[0]
    path, headers, body = first["path"], first["headers"], first["body"]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer k"
    assert body["model"] == "rrm-test" and body["temperature"] == 0.0
    assert body["messages"][0] == {"role": "system", "content": AGENT_RUBRIC}
    assert (
        "Question:\nQ?" in body["messages"][1]["content"]
        and "[assistant]\n<answer>A</answer>" in body["messages"][1]["content"]
    )
    _rm(server, rubric="thinking").score("Q?", "t")
    assert server.requests[1]["body"]["messages"][0]["content"] == THINKING_RUBRIC


def test_thinking_reward_model_reads_its_answer_format(server):
    server.replies = [(200, completion("<answer>0.7</answer>")), (200, completion("Looks fine. 0.4")),
                      (200, completion(VALID)), (200, completion("no score here"))]  # fmt: skip
    rm = _rm(server, rubric="thinking")
    outs = [rm.score("Q?", "<think>r</think><answer>A</answer>") for _ in range(4)]
    assert [(o.score, o.valid) for o in outs[:2]] == [(0.7, True), (0.4, True)]
    assert not outs[3].valid and outs[3].score == 0.0 and "no score" in outs[3].error
    assert "<answer>your_score</answer>" in THINKING_RUBRIC
    # an Agent-RRM reply read as a thinking score: the release's bare-number rule finds its 0.8
    assert (outs[2].score, outs[2].critique) == (0.8, "")


def test_http_backend_retries_then_succeeds(server):
    server.replies = [(503, "busy"), (500, "oops")]
    assert _rm(server, max_retries=2).score("Q", "t").score == 0.8
    assert len(server.requests) == 3


def test_http_backend_failure_raises_or_falls_back(server):
    server.replies = [(500, "down")] * 2
    with pytest.raises(RewardModelError, match="failed after 2 tries: HTTP 500"):
        _rm(server, max_retries=1).score("Q", "t")
    server.replies = [(401, "bad key")]
    with pytest.raises(RewardModelError, match="refused the request: HTTP 401"):
        _rm(server, max_retries=3).score("Q", "t")
    assert len(server.requests) == 3  # no retry on 401
    server.replies = [(500, "down")]
    out = _rm(server, max_retries=0, on_error="fallback", fallback_score=0.1).score("Q", "t")
    assert not out.valid and out.score == 0.1 and "HTTP 500" in out.error


def test_http_backend_garbage_is_malformed(server):
    server.replies = [(200, "not json"), (200, {"choices": []}), (200, completion("I think 0.9"))]
    outs = [_rm(server).score("Q", "t") for _ in range(3)]
    assert [o.valid for o in outs] == [False, False, False]
    assert [o.score for o in outs] == [0.0, 0.0, 0.0]
    assert "not a chat completion" in outs[0].error and "no <score> block" in outs[2].error


def test_http_backend_unreachable():
    s = _server()
    url = s.api
    s.close()  # nothing listens on that port any more
    from algos.reward_models import OpenAIRewardModel

    rm = OpenAIRewardModel(url, "m", max_retries=1, backoff=0.0, timeout=2.0)
    with pytest.raises(RewardModelError, match="failed after 2 tries: ConnectError"):
        rm.score("Q", "t")


# -- local HF backend (tiny random model and tokenizer built here, nothing downloaded) -----


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator([VALID, AGENT_RUBRIC, "Question: Trajectory: user assistant"], trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")
    config = LlamaConfig(
        vocab_size=hf_tok.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
    )
    path = tmp_path_factory.mktemp("tiny_rrm")
    LlamaForCausalLM(config).save_pretrained(path)
    hf_tok.save_pretrained(path)
    return path, hf_tok


def test_hf_backend_random_model_gives_defined_malformed_output(tiny_hf):
    from algos.reward_models import HFRewardModel

    path, _ = tiny_hf
    rm = HFRewardModel(path, max_new_tokens=6)
    out = rm.score("Q?", "<think>x</think><answer>y</answer>")
    assert not out.valid and out.score == 0.0 and out.raw != ""  # random text, parsed strictly


def test_hf_backend_decodes_only_the_new_tokens(tiny_hf):
    import torch

    from algos.reward_models import HFRewardModel

    _, tok = tiny_hf
    target = tok(VALID, return_tensors="pt")["input_ids"]

    class Scripted(torch.nn.Module):  # stands in for a trained RRM: always answers VALID
        def generate(self, input_ids, attention_mask=None, **kw):
            assert kw["do_sample"] is False
            return torch.cat([input_ids, target], dim=1)

    out = HFRewardModel(model=Scripted(), tokenizer=tok).score("Q?", "traj")
    assert out.valid and tuple(out) == (0.8, "Check the second source.", "fine")


def test_hf_backend_needs_a_local_path(tmp_path):
    from algos.reward_models import HFRewardModel

    with pytest.raises(FileNotFoundError, match="local path"):
        HFRewardModel(tmp_path / "missing")
