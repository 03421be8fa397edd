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


def test_vilasr_action_line_with_fenced_json_list():
    text = '<think>trace it</think>\nAction: Path Tracer\n```json\n[{"start_point_2d": [1, 2], "end_point_2d": [3, 4]}]\n```'
    a = VilasrGrammar().parse(text)
    assert (a.kind, a.tool, a.well_formed) == ("tool_call", "path_tracer", True)
    assert a.arguments == {"paths": [{"start_point_2d": [1, 2], "end_point_2d": [3, 4]}]}
    b = VilasrGrammar().parse('Action: object mapper\n{"image": "img_2", "items": [{"bbox_2d": [0, 0, 5, 5]}]}')
    assert b.tool == "object_mapper" and b.arguments == {"image": "img_2", "objects": [{"bbox_2d": [0, 0, 5, 5]}]}
    assert not b.well_formed


@pytest.mark.parametrize(
    "text, message",
    [
        ("Action: Teleporter\n[]", "Unknown action"),
        ("Action: Path Tracer\n[]\nAction: Path Tracer\n[]", "exactly one"),
        ("Action: Path Tracer\nnot json", "not valid JSON"),
        ("Action: Path Tracer\n[]\n<answer>A</answer>", "not both"),
        ('Action: Path Tracer\n{"image": "img_1"}', "list of items"),
    ],
)
def test_vilasr_errors(text, message):
    with pytest.raises(ParseError, match=message):
        VilasrGrammar().parse(text)


def test_chain_tries_each_grammar_and_reports_the_first_error():
    chain = ChainGrammar([DefaultGrammar(), VilasrGrammar()])
    assert chain.parse("<think>t</think><answer>A</answer>").answer == "A"
    assert chain.parse('<think>t</think>\nAction: Path Tracer\n[{"start_point_2d": [1, 1], "end_point_2d": [2, 2]}]').tool == "path_tracer"
    with pytest.raises(ParseError, match="No action found"):
        chain.parse("hello")
    with pytest.raises(ValueError):
        ChainGrammar([])
