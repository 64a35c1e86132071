"""The chat page (app.py) through Streamlit's AppTest: the real pipeline over a temp store, the real
embedding model, and the Ollama protocol test server (stopped or emptied for the failure paths)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rag.answer.declined import DECLINED_TEXT_KO
from rag.answer.history import ChatHistory
from rag.mdsafe import escape_markdown, safe_answer_markdown, safe_stream
from tests.app_support import ATTENTION, app_environment, new_app, page_text, plain
from tests.conftest import shared_path
from tests.fake_ollama import FakeOllama, dead_host
from ui.state.highlight import best_span, citing_text, passage_markdown, sentence_spans
from ui.state.notices import MODE_LABELS, table_file_name

PDF_NAME = ATTENTION[-1]
TABLE_NAME = table_file_name(PDF_NAME)  # as the sources table shows it: shortened in the middle


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        fake.add_model("llama3.2")
        yield fake


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, server: FakeOllama):
    """One store with the attention paper ingested, shared by the chat tests (ingesting is the slow part)."""
    from ui import resources

    pdf = shared_path(*ATTENTION)
    with app_environment(tmp_path_factory.mktemp("chat") / "data", server.url) as settings:
        results = resources.library(settings).ingest([pdf])
        assert [r.status for r in results] == ["ingested"], results
        yield settings


@pytest.fixture
def fake(server: FakeOllama, env) -> Iterator[FakeOllama]:
    """The module's server with a clean slate of scripted replies and recorded requests."""
    from ui import resources

    server.chat_replies.clear()
    server.requests.clear()
    server.models.clear()
    server.add_model("llama3.2")
    resources.ollama_models.clear()  # the page caches the model list for a few seconds
    history = chat_history(env)
    for chat in history.list_chats("documents"):  # a new session reopens the last chat: start each test empty
        history.delete_chat(chat.id)
    yield server


def chat_history(settings) -> ChatHistory:
    return ChatHistory(settings.storage.data_dir / "history.sqlite3")


def ask(at, question: str):
    at.chat_input(key="question").set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sources_frame(at, index: int = -1):
    frames = [d.value for d in at.dataframe]
    assert frames, "no sources table on the page:\n" + page_text(at)
    return frames[index]


def test_question_gets_streamed_answer_with_its_own_sources(fake: FakeOllama, env) -> None:
    fake.queue_chat("Multi-head attention runs several attention functions in parallel [1].")
    at = new_app().run()
    assert not at.exception
    sidebar = page_text(at)
    assert "Ollama ready" in sidebar and "1 document · 64 chunks" in sidebar
    ask(at, "What is multi-head attention?")

    text = page_text(at)
    assert "Multi-head attention runs several attention functions in parallel" in text
    frame = sources_frame(at)
    assert set(frame["file"]) == {TABLE_NAME}
    pages = [int(p.split("–")[0]) for p in frame["page"]]
    assert all(1 <= p <= 15 for p in pages)  # 1-based, within the paper's 15 pages
    assert list(frame["#"]) == list(range(1, len(frame) + 1))
    assert [bool(c) for c in frame["cited"]] == [True] + [False] * (len(frame) - 1)
    ranking = [s["score"] for s in at.session_state["messages"][-1]["sources"]]  # hybrid: the fused score
    assert ranking == sorted(ranking, reverse=True) and frame["match"].max() > 0.3
    # The real retriever found the passage that defines multi-head attention, and it went to the model (source 1
    # is the best hit's page read around it, which may open on the page before: "pp. 14–15").
    prompt = fake.chat_requests[-1].body["messages"][-1]["content"]
    assert "Multi-head attention allows" in prompt and f"<source>\n[1] {PDF_NAME}, p" in prompt
    # Every source has a card labelled with number, page and file; the cited one says so.
    labels = [plain(e.label) for e in at.expander if e.label.startswith("\\[")]
    assert len(labels) == len(frame)
    assert labels[0].startswith(f"[1] p. {frame['page'][0]} · ") and "cited" in labels[0]
    # The conversation and its sources are in session state and in the history database.
    messages = at.session_state["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["sources"][0]["file_name"] == PDF_NAME
    chats = ChatHistory(env.storage.data_dir / "history.sqlite3").list_chats("documents")
    assert [c.title for c in chats] == ["What is multi-head attention?"]


def test_sources_fit_a_phone_say_what_scores_mean_and_the_chat_actions_are_in_the_main_area(
    fake: FakeOllama, env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: 8. A 390 px screen showed one column of the table and hid New chat and the export in the
    collapsed sidebar; BM25 4.5 stood beside cosine 0.72 unexplained, a missing score read "None"."""
    offered = downloads(monkeypatch)
    at = new_app().run()
    main = [b.key for b in at.main.button]
    assert "new_chat_top" in main and at.button(key="new_chat_top").disabled  # already a new, empty chat
    fake.queue_chat("Residual dropout with a rate of 0.1 was used [1].")
    ask(at, "Which dropout rate was used?")
    chat = at.session_state["chat_id"]

    table = at.dataframe[-1]
    frame = table.value
    assert list(frame.columns) == ["#", "file", "page", "cited", "match"]  # compact: fits beside nothing
    assert set(frame["file"]) == {TABLE_NAME} and TABLE_NAME.endswith("03762")
    assert table.proto.placeholder == "—"  # a score no retriever gave: never the word None
    columns = json.loads(table.proto.columns)
    assert all(columns[c].get("help") for c in frame.columns), columns
    assert "cosine" in columns["match"]["help"]
    captions = [c.value for c in at.chat_message[-1].caption]
    assert any(c.startswith("Match: cosine similarity") and "BM25" in c for c in captions)  # under the table
    # The full file name and every score, each named by what it measures, on the passage card.
    assert any(c.startswith(escape_markdown(PDF_NAME) + " · match 0.") and "(cosine)" in c for c in captions)

    # New chat, reopen and download in the main area (not only in the sidebar).
    main = [b.key for b in at.main.button]
    assert {"new_chat_top", f"reopen-{chat}"} <= set(main) and "new_chat" not in main
    assert offered and offered[-1][1].startswith("# Which dropout rate was used?")
    at.button(key="new_chat_top").click().run()
    assert at.session_state["messages"] == [] and at.session_state["chat_id"] is None
    at.button(key=f"reopen-{chat}").click().run()
    assert at.session_state["chat_id"] == chat and "Residual dropout" in page_text(at)


def test_old_answers_keep_their_sources_and_followups_show_the_rewrite(fake: FakeOllama, env) -> None:
    fake.queue_chat("The Transformer uses stacked self-attention layers [1].")
    at = ask(new_app().run(), "How is the encoder built?")
    first = sources_frame(at).copy()
    fake.queue_chat("How many layers does the Transformer encoder stack have?")  # the rewrite (not streamed)
    fake.queue_chat("The encoder stack has N = 6 identical layers [1].")
    ask(at, "How many layers does it have?")

    assert len(at.dataframe) == 2  # one table beside each answer
    assert sources_frame(at, 0).equals(first)  # the old answer kept its own sources
    text = plain(page_text(at))
    assert "Searched for (follow-up rewritten): How many layers does the Transformer encoder stack have?" in text
    rewrite_request = fake.chat_requests[-2].body
    assert rewrite_request["stream"] is False and "How is the encoder built?" in str(rewrite_request["messages"])


def test_search_only_when_ollama_is_unreachable(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", dead_host())
    at = ask(new_app().run(), "What is the BLEU score on English-to-German?")
    text = page_text(at)
    assert "Ollama not reachable" in text  # the status line
    assert any("not reachable" in i.value and "best passages" in i.value for i in at.info)
    assert "Nearest passages" in text
    frame = sources_frame(at)
    assert "cited" not in frame.columns and set(frame["file"]) == {TABLE_NAME}
    assert at.session_state["messages"][-1]["mode"] == "search_only"


def test_ollama_going_away_mid_session_falls_back_to_search(env, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOllama() as doomed:
        doomed.add_model("llama3.2")
        monkeypatch.setenv("OLLAMA_HOST", doomed.url)
        at = new_app().run()
        assert "Ollama ready" in page_text(at)
    ask(at, "What optimizer was used for training?")  # the server is gone now
    assert at.session_state["messages"][-1]["mode"] == "search_only"
    assert "Nearest passages" in page_text(at) and len(sources_frame(at)) > 0


def test_first_start_guides_to_the_documents_page(tmp_path, fake: FakeOllama) -> None:
    with app_environment(tmp_path / "empty", fake.url):
        at = new_app().run()
        assert not at.exception
        assert any("has no documents yet" in i.value for i in at.info)
        assert at.chat_input(key="question").disabled
        assert "Documents" in at.get("page_link")[0].proto.label


def test_pull_any_model_by_name(fake: FakeOllama, env) -> None:
    at = new_app().run()
    at.text_input(key="pull_name").input("qwen2.5:3b").run()
    at.button(key="pull-named").click().run()
    assert not at.exception
    assert [r.body["model"] for r in fake.requests_to("/api/pull")] == ["qwen2.5:3b"]
    assert "qwen2.5:3b" in at.selectbox(key="model").options


def test_not_found_still_shows_the_nearest_passages(fake: FakeOllama, env) -> None:
    at = new_app().run()
    at.slider(key="min_score").set_value(0.95).run()
    ask(at, "What is the recipe for kimchi stew?")
    assert any(w.value.startswith("Not found in your documents") for w in at.warning)
    assert "Nearest passages" in page_text(at) and len(sources_frame(at)) > 0
    assert not fake.chat_requests  # nothing relevant: the model was not asked to make something up


def test_top_k_setting_limits_the_sources(fake: FakeOllama, env) -> None:
    at = new_app().run()
    at.slider(key="top_k").set_value(3).run()
    ask(at, "What is scaled dot-product attention?")
    assert len(sources_frame(at)) == 3


def test_missing_model_offers_a_pull_with_progress(fake: FakeOllama, env) -> None:
    fake.models.clear()
    at = new_app().run()
    assert "has no models" in page_text(at)
    ask(at, "What is positional encoding?")
    message = at.session_state["messages"][-1]
    assert message["mode"] == "error" and message["error_kind"] == "model_not_found"
    assert any("not installed" in e.value for e in at.error)
    assert len(sources_frame(at)) > 0  # the nearest passages are still there
    pull = [b for b in at.button if b.key and b.key.startswith("pull-") and b.key not in ("pull-sidebar", "pull-named")]
    assert pull and plain(pull[0].label) == "Pull llama3.2"
    pull[0].click().run()
    assert not at.exception
    assert [r.body["model"] for r in fake.requests_to("/api/pull")] == ["llama3.2"]
    assert "Ollama ready" in page_text(at)  # the model list was refreshed after the pull


def test_stream_cut_keeps_partial_text_marked_incomplete(fake: FakeOllama, env) -> None:
    fake.queue_chat("The model uses residual connections around each of the two sub-layers [1].", cut_after=5)
    at = ask(new_app().run(), "What surrounds each sub-layer?")
    message = at.session_state["messages"][-1]
    assert message["incomplete"] and message["content"].startswith("The model uses residual")
    assert any(w.value.startswith("Incomplete answer") for w in at.warning)
    assert len(sources_frame(at)) > 0


def test_timeout_is_reported_as_such(fake: FakeOllama, env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "1")
    fake.queue_chat("too late", delay_s=3)
    at = ask(new_app().run(), "How long did training take?")
    assert at.session_state["messages"][-1]["error_kind"] == "timeout"
    assert any("did not respond within 1 s" in e.value for e in at.error)
    assert len(sources_frame(at)) > 0


def test_search_mode_choice_decides_which_retrievers_score_the_sources(fake: FakeOllama, env) -> None:
    at = new_app().run()
    picker = at.selectbox(key="search_mode")
    assert picker.options[0] == MODE_LABELS["hybrid"]  # the configured mode first; no reranker here
    assert MODE_LABELS["hybrid+rerank"] not in picker.options
    found_by = {}
    for mode in ("lexical", "dense", "hybrid"):
        fake.queue_chat("Label smoothing of 0.1 was used [1].")
        at.selectbox(key="search_mode").set_value(mode).run()
        ask(at, "What is label smoothing?")
        message = at.session_state["messages"][-1]
        assert message["mode"] == "answer" and message["sources"] and not message["notes"]
        # Which retriever ranked each source (every source also shows the cosine, for the not-found gate).
        found_by[mode] = {
            ("dense" if s["dense_rank"] else "") + ("lexical" if s["lexical_rank"] else "") for s in message["sources"]
        }
        assert all(s["dense_score"] is not None for s in message["sources"])
        # One relevance column whatever the mode (the cosine); the keyword score is on the passage cards.
        assert list(sources_frame(at).columns) == ["#", "file", "page", "cited", "match"]
        cards = at.chat_message[-1].caption  # this answer's passage cards, not the earlier ones
        keywords = [c.value for c in cards if c.value.startswith(escape_markdown(PDF_NAME) + " · match ")]
        assert keywords and any("(BM25)" in c for c in keywords) == (mode != "dense")
    assert found_by["lexical"] == {"lexical"} and found_by["dense"] == {"dense"}
    assert "denselexical" in found_by["hybrid"]  # hybrid: passages both retrievers ranked


def chat_buttons(at) -> list[tuple[str, str]]:
    """The sidebar's chats, top to bottom: (chat id, label)."""
    return [(b.key.removeprefix("chat-"), plain(b.label)) for b in at.sidebar.button if b.key.startswith("chat-")]


def test_chats_listed_in_the_sidebar_reopened_renamed_downloaded_and_deleted(
    fake: FakeOllama, env, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.queue_chat("Dropout with a rate of 0.1 was used [1].")
    at = ask(new_app().run(), "Which dropout rate was used?")
    first = at.session_state["chat_id"]
    at.button(key="new_chat").click().run()
    assert at.session_state["messages"] == [] and not at.dataframe
    fake.queue_chat("Adam was used [1].")
    ask(at, "Which optimizer was used?")
    second = at.session_state["chat_id"]
    assert chat_buttons(at) == [(second, "Which optimizer was used?"), (first, "Which dropout rate was used?")]

    # A reload (a new session) opens the last chat, where the user left off.
    at = new_app().run()
    assert at.session_state["chat_id"] == second and "Adam was used" in page_text(at)
    at.button(key=f"chat-{first}").click().run()
    assert [m["role"] for m in at.session_state["messages"]] == ["user", "assistant"]
    assert "Dropout with a rate of 0.1 was used" in page_text(at)
    assert set(sources_frame(at)["file"]) == {TABLE_NAME}  # the reopened answer brought its sources

    offered = downloads(monkeypatch)
    at.text_input(key=f"title-{first}").input("Dropout / regularisation: notes").run()
    at.button(key="rename_chat").click().run()
    assert chat_history(env).get_chat(first).summary.title == "Dropout / regularisation: notes"
    assert (first, "Dropout / regularisation: notes") in chat_buttons(at)
    name, markdown = offered[-1]
    assert name == f"dropout-regularisation-notes-{datetime.now(UTC):%Y-%m-%d}.md"
    assert markdown.startswith("# Dropout / regularisation: notes\n") and "## Question" in markdown

    at.button(key="delete_chat").click().run()
    assert not at.exception
    assert at.session_state["chat_id"] is None and at.session_state["messages"] == []
    assert [c.id for c in chat_history(env).list_chats("documents")] == [second]
    assert [chat for chat, _ in chat_buttons(at)] == [second]


def downloads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(file name, text) of each file the page offers for download, as Streamlit's media store receives it."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    offered: list[tuple[str, str]] = []
    store = MemoryMediaFileStorage.load_and_get_id

    def spy(self, data, mimetype, kind, filename=None):
        if mimetype == "text/markdown":
            offered.append((filename, data.decode() if isinstance(data, bytes) else data))
        return store(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return offered


def test_a_run_stopped_mid_answer_keeps_the_question_and_the_text_so_far(fake: FakeOllama, env) -> None:
    """A reload or a closed tab stops the session's run mid-answer; the exchange must survive it."""
    fake.queue_chat(["Each position ", "gets sine ", "and cosine ", "values [1]. "] + ["More words. "] * 60,
                    token_delay_s=0.5, delay_after=4)  # fmt: skip
    at = new_app().run()
    at.chat_input(key="question").set_value("How are positions encoded?")
    with pytest.raises(RuntimeError, match="timed out"):
        at.run(timeout=15)  # AppTest stops the run here, as Streamlit does when the tab goes away
    [chat] = chat_history(env).list_chats("documents")
    stored = chat_history(env).get_chat(chat.id).messages
    assert [(m.role, m.reply_to) for m in stored] == [("user", None), ("assistant", stored[0].id)]
    assert stored[0].content == "How are positions encoded?"
    assert stored[1].content.startswith("Each position gets sine and cosine values [1].")
    assert stored[1].meta["incomplete"] and stored[1].meta["error_kind"] == "interrupted"

    reopened = new_app().run()  # the reload: a new session opens the chat where it stopped
    assert reopened.session_state["chat_id"] == chat.id
    assert [m["role"] for m in reopened.session_state["messages"]] == ["user", "assistant"]
    assert any(w.value.startswith("Incomplete answer") for w in reopened.warning)
    assert "Each position gets sine and cosine values" in page_text(reopened)


def test_a_second_question_never_erases_the_first_exchange(fake: FakeOllama, env) -> None:
    """While an answer streams the input is disabled; whatever else stops that run (another question's rerun
    in an older client, a click in the sidebar) keeps the first exchange, on screen and in the history."""
    fake.queue_chat(["Six ", "layers ", "are stacked [1]. "] + ["Still going. "] * 60, token_delay_s=0.5, delay_after=3)
    at = new_app().run()
    at.chat_input(key="question").set_value("How many encoder layers?")
    with pytest.raises(RuntimeError, match="timed out"):
        at.run(timeout=15)
    at.run()  # the rerun that stopped it (a click): the exchange so far is on screen
    assert "Six layers are stacked" in page_text(at) and any(w.value.startswith("Incomplete") for w in at.warning)
    fake.queue_chat("How many attention heads does the Transformer use?")  # the follow-up's rewrite
    fake.queue_chat("Eight heads are used [1].")
    ask(at, "How many attention heads?")
    assert not at.chat_input(key="question").disabled
    messages = at.session_state["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "How many encoder layers?" and messages[1]["content"].startswith("Six layers")
    assert messages[3]["content"] == "Eight heads are used [1]."
    [chat] = chat_history(env).list_chats("documents")
    stored = chat_history(env).get_chat(chat.id).messages
    assert [m.content.split(" ")[0] for m in stored] == ["How", "Six", "How", "Eight"]


def test_page_preview_on_demand(fake: FakeOllama, env) -> None:
    fake.queue_chat("Attention maps a query and key-value pairs to an output [1].")
    at = ask(new_app().run(), "How is an attention function described?")
    assert not at.image
    toggles = [t for t in at.toggle if t.key and t.key.startswith("pv-")]
    assert toggles and toggles[0].label.startswith("Show page ")
    toggles[0].set_value(True).run()
    assert not at.exception
    assert len(at.image) == 1
    page = int(toggles[0].label.rsplit(" ", 1)[1])
    assert [plain(c) for c in at.image[0].captions] == [f"{PDF_NAME}, page {page}"]


def test_injected_markup_in_an_answer_is_shown_not_run(fake: FakeOllama, env) -> None:
    fake.queue_chat("See ![x](https://evil.example/leak.png) and [click](http://evil.example) <img src=x> [1].")
    at = ask(new_app().run(), "What is the attention function?")
    answer = next(m.value for m in at.markdown if "evil" in m.value)
    assert not re.search(r"(?<!\\)[\[\]<]", answer)  # no live link, image or tag syntax
    assert "://" not in re.sub(r"`[^`]*`", "", answer)  # no autolink either: URLs are shown as code
    assert plain(answer).startswith("See ![x](https://evil.example/leak.png) and [click](http://evil.example)")
    for m in at.markdown:  # passages and labels: never a live link or image
        assert not re.search(r"(?<!\\)\]\(|(?<!\\)<[a-z]", m.value), m.value


def test_citation_marks_and_a_refusal_in_the_question_language(fake: FakeOllama, env) -> None:
    # Issue 13: a figure no passage holds, cited as if [1] said it; the copied tag is a citation of [2].
    fake.queue_chat('The Transformer reaches 7,777 BLEU [1]. It uses attention <source id="2" file="x.pdf">.')
    at = ask(new_app().run(), "What BLEU score does the Transformer reach?")
    message = at.session_state["messages"][-1]
    assert message["content"] == "The Transformer reaches 7,777 BLEU [1]. It uses attention [2]."
    frame = sources_frame(at)
    assert frame["cited"][0] == "⚠ check"
    assert frame["cited"][1] in ("✓ holds", "⚠ check") and set(frame["cited"][2:]) <= {""}
    assert any("7,777" in w.value and "none of its sources" in w.value for w in at.warning)
    label = next(plain(e.label) for e in at.expander if e.label.startswith("\\[1\\]"))
    assert "claim not in this source" in label
    assert not any("cites no source" in w.value for w in at.warning)

    # A refusal (in English, under a Korean question): the app says not found, in Korean, and nothing else.
    fake.queue_chat("The documents do not contain the answer to this question.")
    at.toggle(key="rewrite_followups").set_value(False).run()  # the reply is the answer's, not a rewrite's
    at.slider(key="min_score").set_value(0.0).run()  # the model, not the relevance gate, is to decline
    at.toggle(key="evidence_gate").set_value(False).run()  # nor the evidence gate (no passage is Korean)
    ask(at, "트랜스포머의 학습 비용은 얼마입니까?")
    message = at.session_state["messages"][-1]
    assert message["declined"] and message["content"] == DECLINED_TEXT_KO
    assert DECLINED_TEXT_KO in [plain(w.value) for w in at.warning]
    assert not any("cites no source" in w.value for w in at.warning)
    assert "The documents do not contain" not in page_text(at)


# -- the helpers behind the page -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[link](http://x.example) ![img](https://x.example/a.png) <script>alert(1)</script>",
        "# heading\n    code block\n> quote\n- item\n1. item\n***\n| a | b |",
        ":red[coloured] :smile: $x^2$ ~~strike~~ **bold** _it_ `code` https://x.example www.x.example a@x.example",
        "트랜스포머는 어텐션만 사용한다 [1]. 다음 문장:\n\n새 문단",
    ],
)
def test_escape_markdown_leaves_no_live_markup(text: str) -> None:
    escaped = escape_markdown(text)
    code = re.findall(r"(?<!\\)`([^`]*)`", escaped)  # URLs, e-mail addresses, :shortcodes: are shown as code
    outside = re.sub(r"(?<!\\)`[^`]*`", "", escaped)
    assert not re.search(r"(?<!\\)[\[\]<>*_`#~$|!:]", outside)  # every other markup character is escaped
    assert all(re.fullmatch(r"https?://\S+|www\.\S+|\S+@\S+|:\w+:", c) for c in code), code
    shown_raw = outside.replace("\\", "")  # what the renderer sees once escapes are resolved
    assert "://" not in shown_raw and "www." not in shown_raw and "a@x" not in shown_raw  # no autolinks
    assert "\u2060" not in escaped  # nothing invisible that a copy would carry along
    assert not re.search(r"^[ \t]", escaped, re.MULTILINE)  # no indented code blocks
    # What shows is the text itself (modulo leading indentation and line joins).
    shown = plain(escaped)
    for word in re.findall(r"\w+", text):
        assert word in shown


def test_text_shown_carries_nothing_invisible_into_a_copy() -> None:
    """Colons, URLs and addresses used to get an invisible U+2060 after them, which a copy took along."""
    text = "Note: see https://example.org/a, or write to help@example.org at 10:30 :smile: (www.example.org)."
    escaped = escape_markdown(text)
    assert "\u2060" not in escaped and "\u2060" not in safe_answer_markdown(text)
    assert plain(escaped) == text  # what shows is what is copied
    links = ["https://example.org/a", "help@example.org", "www.example.org"]
    assert re.findall(r"`([^`]*)`", escaped) == [*links[:2], ":smile:", links[2]]  # shown as code: never live
    assert re.findall(r"`([^`]*)`", safe_answer_markdown(text)) == links
    assert safe_answer_markdown("Use `http://x` or\n```\nwww.y\n```") == "Use `http://x` or\n```\nwww.y\n```"


def test_safe_answer_keeps_formatting_but_not_links() -> None:
    out = safe_answer_markdown("**Bold** claim [1]. ![a](https://e.example/x.png) <b>x</b> see www.e.example")
    assert out.startswith("**Bold** claim \\[1\\].")
    assert "![a](" not in out and "<b>" not in out
    outside_code = re.sub(r"`[^`]*`", "", out)
    assert "https://" not in outside_code and "www." not in outside_code  # URLs shown as code: never links
    # Streamed in odd pieces, the same text is made safe the same way.
    pieces = ["**Bold** claim [1]. ![a](htt", "ps:/", "/e.example/x.png) <b>x</b> see ww", "w.e.example"]
    assert "".join(safe_stream(pieces)) == out


def test_dollar_signs_in_an_answer_stay_text() -> None:
    # Streamlit's Markdown reads "$5, … 3$" as LaTeX: each "$" is escaped, and shows as itself.
    text = "The fee is $5 a share, 3$ for members, $328.1 million in all."
    out = safe_answer_markdown(text)
    assert out == text.replace("$", "\\$") and plain(out) == text
    pieces = ["The fee is $", "5 a share, 3", "$ for members, $328.1 million in all."]
    assert "".join(safe_stream(pieces)) == out


def test_highlight_finds_the_sentence_an_answer_relies_on() -> None:
    passage = (
        "Figure 1: The Transformer - model architecture. The Transformer follows this overall architecture "
        "using stacked self-attention and point-wise, fully\nconnected layers for both the encoder and decoder."
        " 3.1 Encoder and Decoder Stacks"
    )
    answer = "It uses stacked self-attention and fully connected layers [1][2]. Unrelated claim [3]."
    claims = citing_text(answer, 1)
    assert claims.startswith("It uses stacked self-attention") and "Unrelated" not in claims
    start, end = best_span(passage, claims)
    assert passage[start:end].startswith("The Transformer follows") and passage[start:end].endswith("decoder.")
    marked = passage_markdown(passage, (start, end))
    assert marked.count(":orange-background[") == 1 and "Figure 1\\: The" in marked  # the caption's colon defused
    assert best_span(passage, "kimchi stew recipe") is None
    mixed = "A 3.5 b. 다음 문장。 끝"
    assert [mixed[a:b] for a, b in sentence_spans(mixed)] == ["A 3.5 b.", "다음 문장。", "끝"]


def test_highlight_works_for_korean() -> None:
    passage = "트랜스포머는 순환 신경망을 사용하지 않는다. 대신 어텐션 메커니즘만으로 입력과 출력의 관계를 모델링한다."
    # Particles differ ("메커니즘으로" / "메커니즘만으로"): Hangul bigrams still match the words.
    start, end = best_span(passage, "어떤 메커니즘으로 입력과 출력의 관계를 모델링하나요?")
    assert passage[start:end].startswith("대신 어텐션")
    start, end = best_span(passage, "트랜스포머가 순환 신경망을 쓰나요?")
    assert passage[start:end].startswith("트랜스포머는 순환")


def test_a_pdf_reader_process_does_not_run_the_app() -> None:
    """The readers are spawned, and spawn runs the main module (under Streamlit: app.py) again as __mp_main__.
    Before the guard each reader ran the whole app: 16 'missing ScriptRunContext' warnings at every start."""
    import subprocess
    import sys

    from tests.app_support import APP, ROOT

    reader = (  # what multiprocessing's spawn does in a new process, then: which app modules got loaded
        f"import runpy, sys; runpy.run_path({str(APP)!r}, run_name='__mp_main__');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ui', 'rag')))"
    )
    child = subprocess.run([sys.executable, "-c", reader], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert "ScriptRunContext" not in child.stderr and child.stderr.strip() == "", child.stderr
    assert child.stdout.strip() == "[]", child.stdout  # nor are the app's own modules loaded into the reader


def test_a_cold_start_draws_the_page_before_the_embedding_model_is_loaded(
    fake: FakeOllama, env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading torch and the model took the whole cold start, with nothing on the page: now it loads on first
    use (and in the background), so the page is there at once and the first question still gets an answer."""
    import threading

    from ui import resources

    loading = threading.Event()
    real = resources.load_embedder

    def slow_model(config):
        assert loading.wait(60), "the model was never allowed to load"
        return real(config)

    monkeypatch.setattr(resources, "load_embedder", slow_model)
    monkeypatch.setenv("RAG_EMBED_BATCH", "7")  # settings no library was opened with yet: a cold start
    at = new_app().run(timeout=60)  # before: the page waited here for the model, and this run timed out
    assert [t.value for t in at.title] == ["Chat with your PDFs"]
    assert not at.chat_input(key="question").disabled and "1 document · 64 chunks" in page_text(at)
    loading.set()  # the model arrives; the first question uses it
    fake.queue_chat("Positional encodings use sine and cosine functions [1].")
    ask(at, "How are positions encoded?")
    assert at.session_state["messages"][-1]["mode"] == "answer" and len(sources_frame(at)) > 0
