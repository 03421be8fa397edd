import pytest

from mmsearch_gym.core.grammar import ChainGrammar, DefaultGrammar, ParseError, VilasrGrammar

G = DefaultGrammar()


def test_tool_call_parses_name_arguments_and_think():
    a = G.parse('<think>look closer</think>\n<tool_call>{"name": "crop", "arguments": {"image": "img_1", "x": 3}}</tool_call>')
    assert (a.kind, a.tool, a.arguments, a.think, a.well_formed) == ("tool_call", "crop", {"image": "img_1", "x": 3}, "look closer", True)


def test_answer_parses_and_is_stripped():
    a = G.parse("  <think>done</think>  <answer>\n 42 </answer>\n")
    assert (a.kind, a.answer, a.well_formed) == ("answer", "42", True)


def test_whitespace_and_case_tolerant_tags_and_fenced_json():
    a = G.parse('<THINK>x</THINK>\n\n<Tool_Call>\n```json\n{"name": "t", "arguments": {}}\n```\n</Tool_Call>')
    assert a.tool == "t" and a.arguments == {} and a.well_formed


def test_arguments_given_as_json_string_are_accepted():
    a = G.parse('<think>x</think><tool_call>{"name": "t", "arguments": "{\\"k\\": 1}"}</tool_call>')
    assert a.arguments == {"k": 1}


def test_missing_think_parses_but_is_not_well_formed():
    a = G.parse("<answer>B</answer>")
    assert a.answer == "B" and not a.well_formed and "missing <think> block" in a.format_issues
    with pytest.raises(ParseError, match="<think>"):
        DefaultGrammar(require_think=True).parse("<answer>B</answer>")


def test_stray_text_is_a_format_issue_not_an_error():
    a = G.parse("Sure! <think>x</think><answer>B</answer> hope this helps")
    assert a.answer == "B" and not a.well_formed
    assert set(a.format_issues) == {"text outside the blocks", "text after the last block"}


def test_tags_mentioned_inside_think_are_ignored():
    a = G.parse("<think>I could use <answer> now, or a <tool_call></think><answer>7</answer>")
    assert a.kind == "answer" and a.answer == "7"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Empty turn"),
        ("   \n ", "Empty turn"),
        ("just words", "No action found"),
        ("<think>only thinking</think>", "No action found"),
        ('<think>x</think><tool_call>{"name": "a"}</tool_call><tool_call>{"name": "b"}</tool_call>', "2 tool calls"),
        ("<think>x</think><answer>1</answer><answer>2</answer>", "2 answers"),
        ('<think>x</think><tool_call>{"name": "a"}</tool_call><answer>1</answer>', "not both"),
        ("<think>x</think><tool_call>{name: a}</tool_call>", "not valid JSON"),
        ("<think>x</think><tool_call>[1, 2]</tool_call>", "JSON object"),
        ('<think>x</think><tool_call>{"arguments": {}}</tool_call>', 'no "name"'),
        ('<think>x</think><tool_call>{"name": "a", "arguments": [1]}</tool_call>', '"arguments" must be a JSON object'),
        ('<think>x</think><tool_call>{"name": "a", "args": {}}</tool_call>', "Unexpected keys"),
        ("<think>x</think><answer>unclosed", "never closed"),
        ("<think>x</think></answer>", "without a matching"),
        ("<think>x</think><answer>   </answer>", "empty"),
        ("<think>x</think><answer><tool_call>{}</tool_call></answer>", "must not contain"),
    ],
)
def test_structural_errors_explain_what_is_wrong(text, message):
    with pytest.raises(ParseError, match=message):
        G.parse(text)


def test_too_long_and_degenerate_and_non_string_turns_are_errors():
    with pytest.raises(ParseError, match="too long"):
        G.parse("<answer>" + "x" * 1_000_000 + "</answer>")
    with pytest.raises(ParseError, match="repetition"):
        G.parse("<think>" + "go left. " * 1000 + "</think><answer>L</answer>")
    for bad in (None, b"<answer>1</answer>", 3):
        with pytest.raises(ParseError, match="must be a string"):
            G.parse(bad)  # type: ignore[arg-type]


def test_non_ascii_text_is_fine():
    a = G.parse('<think>日本語 😀</think><tool_call>{"name": "search", "arguments": {"q": "Zürich 北京"}}</tool_call>')
    assert a.arguments == {"q": "Zürich 北京"}


# Turns written exactly as VILASR's released prompt asks (verl/utils/dataset_multimodal.py)
VILASR_DRAW = (
    "<think> The cup is left of the plate; I mark both to check. </think> Action: Object Mapper\n"
    "```json\n"
    '[{\n    "index": 1,\n    "bbox_2d": [10, 20, 110, 140],\n    "label": "cup"\n}]\n'
    "```"
)
VILASR_ANSWER = "<think> The marked cup is on the left. </think> Action: Answer\n<answer> B </answer>"


def test_vilasr_turns_from_the_released_prompt_parse_and_are_well_formed():
    a = VilasrGrammar().parse(VILASR_DRAW)
    assert (a.kind, a.tool, a.well_formed) == ("tool_call", "object_mapper", True)
    assert a.arguments == {"objects": [{"index": 1, "bbox_2d": [10, 20, 110, 140], "label": "cup"}]}
    b = VilasrGrammar().parse(VILASR_ANSWER)
    assert (b.kind, b.answer, b.well_formed) == ("answer", "B", True)
    chain = ChainGrammar([DefaultGrammar(), VilasrGrammar()])
    assert chain.parse(VILASR_ANSWER).well_formed  # the default grammar reads it too, but not well formed


@pytest.mark.parametrize(
    "text, tool, arguments",
    [
        ('<think>t</think> Action: Path Tracer [{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]',
         "path_tracer", {"paths": [{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]}),
        ('<think>t</think>\nAction: Path Tracer\n[{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]',
         "path_tracer", {"paths": [{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]}),
        ("<think>t</think> Action: Object Mapper\n```json\n[{'bbox_2d': [1, 2, 3, 4], 'label': 'a'}]\n```",
         "object_mapper", {"objects": [{"bbox_2d": [1, 2, 3, 4], "label": "a"}]}),  # ast.literal_eval, as the reference
        ('<think>t</think> Action: Object Mapper\n```json\n[{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]\n```',
         "path_tracer", {"paths": [{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]}),  # routed by keys
        ('<think>t</think> Action: Path Tracer\n```json\n[{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"},'
         ' {"bbox_2d": [1, 2, 3, 4], "label": "b"}]\n```', "path_tracer",
         {"paths": [{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}], "objects": [{"bbox_2d": [1, 2, 3, 4], "label": "b"}]}),
    ],
)  # fmt: skip
def test_vilasr_json_on_the_same_line_the_next_or_fenced(text, tool, arguments):
    a = VilasrGrammar().parse(text)
    assert (a.tool, a.arguments, a.well_formed) == (tool, arguments, True)


@pytest.mark.parametrize(
    "text, issue",
    [
        ('<think>t</think> Action: Path Tracer\n```json\n[{"start_point_2d": [1, 2], "end_point_2d": [3, 4]}]\n```', "label"),
        ('Action: Path Tracer\n[{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]', "format"),
        ('I think. <think>t</think> Action: Path Tracer\n[{"start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}]', "format"),
        ("<think>t</think> Action: Answer\n<answer>B</answer>\n```json\n[{\"bbox_2d\": [1, 2, 3, 4]}]\n```", "label"),
    ],
)  # fmt: skip
def test_vilasr_format_follows_the_reference_check(text, issue):
    """gcot.format_reward: fullmatch of <think>(.*?)</think>\\s*Action:…, every item labelled."""
    a = VilasrGrammar().parse(text)
    assert not a.well_formed and issue in " ".join(a.format_issues)


def test_chain_tries_each_grammar_and_reports_the_first_error():
    chain = ChainGrammar([DefaultGrammar(), VilasrGrammar()])
    assert chain.parse("<think>t</think><answer>A</answer>").answer == "A"
    assert chain.parse('<think>t</think>\nAction: Path Tracer\n[{"start_point_2d": [1, 1], "end_point_2d": [2, 2]}]').tool == "path_tracer"
    with pytest.raises(ParseError, match="No action found"):
        chain.parse("hello")
    with pytest.raises(ValueError):
        ChainGrammar([])
