"""`qabot`: index documents and answer questions from the terminal; also runs the bot and benchmarks.

Only argparse is imported up front so `qabot --help` stays fast; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

EXIT_ERROR, EXIT_BAD_QUESTION, EXIT_NO_INDEX = 1, 2, 3
EXIT_SOURCE_FAILED = 4  # the index was built, but a source could not be synced (its last good documents kept)

DESCRIPTION = """Answer questions from your team's documents with verbatim quotes and links.

examples:
  qabot index                                  build or update the index (only changed documents are embedded)
  qabot ask "Which banks were sanctioned?"     answer in the terminal
  qabot ask --json --batch questions.txt       one JSON answer per line
  qabot eval ../shared/eval/dev.jsonl          score answers against a question set
"""


def _settings(args, load=None):
    """Settings from --config and --index-dir over the usual sources: the engine's, or `load`'s (the bot's)."""
    from index.config import load_settings

    overrides = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = os.path.abspath(args.index_dir)
    return (load or load_settings)(getattr(args, "config", None), **overrides)


def _bot_settings(args):
    from bot.settings import load_bot_settings

    return _settings(args, load_bot_settings)


def _engine(args, say_building=True):
    from index.engine import Engine

    engine = Engine(_settings(args))
    if not engine.store.exists():
        if say_building:
            sources = ", ".join(s.name for s in engine.settings.all_sources)
            print(f"No index yet: building one from {sources} (first run only)…", file=sys.stderr)
        summary = engine.rebuild(progress=sys.stderr.isatty())
        print("Index built: " + summary.line(), file=sys.stderr)
    return engine


def _print_answer(answer) -> None:
    """The answer as text; the answer's spans in bold on a terminal (plain when piped, or with NO_COLOR)."""
    import textwrap

    from index.terminal import BOLD, PLAIN, marked, placeholders_to, visible

    bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    print(visible(f"Q: {answer.question}"))
    if answer.follow_up:
        print(visible(f"   (following up on: {answer.follow_up}; searched: {answer.understood})"))
    if answer.sets and answer.sets != ("all",):
        print(visible(f"   (sets: {', '.join(answer.sets)})"))
    print()
    if answer.note:
        print(visible(f"Note: {answer.note}."))
    if answer.abstained:
        print("I couldn't find that in the documents.")
        if answer.quotes:
            print("\nClosest passages (not an answer):")
    for i, q in enumerate(answer.quotes, 1):
        text = marked(q.text, q.marks) if not q.closest else visible(q.text)
        body = textwrap.fill(text, width=88, initial_indent="   “", subsequent_indent="    ") + "”"
        body = placeholders_to(body, BOLD if bold else "", PLAIN if bold else "")
        print(f"{i}. " + body.lstrip())
        meta = ("saved answer: " if q.saved else "") + q.title + (f" ({q.date})" if q.date else "")
        print(visible(f"   — {meta}", keep=""))
        print(visible(f"     {q.url or q.doc}", keep=""))
        print()
    print(f"({answer.took_ms:.0f} ms)")


def cmd_ask(args) -> int:
    from index.errors import QuestionError
    from index.terminal import json_text

    engine = _engine(args)
    scope = {"sets": args.set or None, "guild_id": args.guild}
    if args.batch:
        fh = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")
        with fh:
            for line in fh:
                question = line.rstrip("\n")
                try:
                    out = engine.ask(question, **scope).to_json()
                except QuestionError as exc:
                    out = {"question": question, "abstained": True, "quotes": [], "took_ms": 0.0, "error": str(exc)}
                print(json_text(out), flush=True)
        return 0
    question = " ".join(args.question)
    answer = engine.ask(question, previous=args.previous, **scope)  # a QuestionError: exit 2 with its message
    if args.json:
        print(json_text(answer.to_json()))
    else:
        _print_answer(answer)
    return 0


def cmd_index(args) -> int:
    from index.engine import Engine
    from index.terminal import visible

    settings = _settings(args)
    engine = Engine(settings)
    progress = sys.stderr.isatty() and not args.quiet
    refresh = engine.refresh(
        args.source, accept_removals=args.accept_removals, full=args.full, progress=progress, lock_wait=args.wait
    )
    summary = refresh.build
    assert summary is not None  # refresh raises when the build fails
    for report in refresh.syncs:
        for w in report.warnings:
            print(visible(f"warning: {w}", keep=""), file=sys.stderr)
        if not report.ok:
            print(visible(f"qabot: source {report.line()}", keep=""), file=sys.stderr)
    for w in summary.warnings:
        print(visible(f"warning: {w}", keep=""), file=sys.stderr)
    if args.json:
        out = summary.to_json()
        if refresh.syncs:
            out["sources"] = [r.to_json() for r in refresh.syncs]
        print(json.dumps(out))
    else:
        for report in refresh.syncs:
            print(visible(("Synced " if report.ok else "Not synced ") + report.line(), keep=""))
        build = summary.build_id
        state = f"switched to build {build}" if summary.switched else f"nothing changed; build {build} stays in service"
        print(f"Indexed: {summary.line()}; {state}")
    return EXIT_SOURCE_FAILED if any(not r.ok for r in refresh.syncs) else 0


def _print_source_status(rows: list[dict]) -> None:
    """The sources as a table: name, kind, documents, last good sync, next sync; the last error below."""
    from index.terminal import visible

    print("Sources:")
    for r in rows:
        docs = "?" if r["documents"] is None else str(r["documents"])
        last = r["last_ok"] or ("-" if r["kind"] == "folder" else "never")
        state = "STALE " if r["stale"] else ""
        sets = ", ".join(r.get("sets") or ["all"])
        print(
            visible(
                f"  {state}{r['name']}  [{r['kind']}]  {docs} documents  last sync {last}  "
                f"next {r['next_sync']}  sets {sets}"
            )
        )
        if r["last_error"]:
            print(visible(f"      last error: {r['last_error']}", keep=""))


def cmd_sources(args) -> int:
    from index.terminal import json_text, visible

    engine = _engine(args)
    if args.status:
        rows = engine.source_status()
        if args.json:
            print(json_text(rows, indent=1))
        else:
            _print_source_status(rows)
        return 0
    docs = engine.sources(args.filter or "", guild_id=args.guild)
    if args.set:
        docs = [d for d in docs if set(args.set) & set(d["sets"])]
    if args.json:
        print(json_text(docs, indent=1))
        return 0
    if not args.filter and engine.settings.source:  # [[source]] tables: their state first
        _print_source_status(engine.source_status())
        print()
    for d in docs:
        sets = [n for n in d["sets"] if n != "all"]
        print(
            visible(f"{d['date'] or '          '}  {d['title']}", keep="")
            + (visible(f"  [{', '.join(sets)}]", keep="") if sets else "")
            + "\n            "
            + visible(d["url"] or d["path"], keep="")
        )
    counts = engine.info()["sets"]
    shown = {n: c for n, c in counts.items() if not n.startswith("saved:") or n == f"saved:{args.guild}"}
    print("Sets: " + ", ".join(f"{n} ({c['documents']} documents)" for n, c in shown.items()))
    print(f"{len(docs)} documents")
    return 0


def cmd_report(args) -> int:
    from index.engine import Engine
    from index.terminal import visible

    engine = Engine(_settings(args))
    rep = engine.activity.report(limit=args.limit)
    if args.json:
        print(json.dumps(rep, indent=1))
        return 0
    print("Unanswered questions (most frequent first):")
    for r in rep["unanswered"] or [{"question": "(none)", "times": ""}]:
        print(visible(f"  {r['times']!s:>4}  {r['question']}", keep=""))
    print("\nDownvoted answers (most downvotes first):")
    for r in rep["downvoted"] or [{"question": "(none)", "downvotes": ""}]:
        print(visible(f"  {r['downvotes']!s:>4}  {r['question']}", keep=""))
    return 0


def cmd_stats(args) -> int:
    from index.engine import Engine

    engine = Engine(_settings(args))
    out = {"index": engine.info(), "activity": engine.activity.stats()}
    print(json.dumps(out, indent=1))
    return 0


def cmd_eval(args) -> int:
    from bench.evaluate import run_eval

    return run_eval(_engine(args, say_building=True), args.file, as_json=args.json, show_misses=not args.quiet)


def cmd_calibrate(args) -> int:
    from bench.evaluate import calibrate

    print(json.dumps(calibrate(_engine(args), args.files, write=not args.dry_run, out=args.out), indent=1))
    return 0


def cmd_train(args) -> int:
    from bench.train import default_bundled, train

    squad = Path(args.squad).resolve()
    if not (squad / "questions.jsonl").is_file():
        print(
            f"qabot: `train` needs SQuAD 2.0's folder ({squad} has no questions.jsonl); "
            "give it with --squad DIR, e.g. --squad ../shared/bench/squad2",
            file=sys.stderr,
        )
        return EXIT_ERROR
    bundled = [Path(f) for f in args.bundled] if args.bundled else default_bundled()
    missing = [str(f) for f in bundled if not f.is_file()]
    if missing:
        print(f"qabot: no such question set: {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    manifest = train(squad, bundled, Path(args.out).resolve(), folds=args.folds, progress=not args.json)
    if args.json:
        print(json.dumps(manifest))
        return 0
    out = Path(args.out).resolve()
    print(f"reader: {out / 'reader.json'} (sha256 {manifest['reader_sha256']})")
    print(f"manifest: {out / 'reader-manifest.json'}")
    cv = manifest.get("held_out")
    if cv:
        for fam, f in cv["out_of_fold"].items():
            print(
                f"held out, {fam}: accuracy {f['accuracy']}, hit@1 {f['hit_at_1']}, abstained "
                f"{f['unanswerable_abstained']}, false abstention {f['false_abstention']}, "
                f"AUROC {cv['auroc'][fam]['auroc_answerable']}"
            )
    print(
        "To ship it: copy reader.json over index/reader.json and set READER_SHA256 in index/reader.py to the "
        "sha256 above."
    )
    return 0


def cmd_bench(args) -> int:
    if args.what in ("beir", "squad") and not args.dir:
        print(
            f"qabot: `bench {args.what}` needs the dataset folder, e.g. qabot bench {args.what} "
            f"../shared/bench/{'scifact' if args.what == 'beir' else 'squad2'}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args.what == "beir":
        from bench.beir import main as beir_main

        return beir_main(args)
    if args.what == "squad":
        from bench.squad import main as squad_main

        return squad_main(args)
    if args.what == "sources":
        from bench.sources import main as sources_main

        return sources_main(args)
    if args.what == "followups":
        from bench.followups import main as followups_main

        return followups_main(args, _engine(args))
    if args.what == "sets":
        from bench.speed import sets_main

        return sets_main(args)
    from bench.speed import main as speed_main

    return speed_main(args)


def cmd_serve(args) -> int:
    from bot import run_bot

    return run_bot(_bot_settings(args)) or 0


def cmd_preview(args) -> int:
    from bot import run_preview

    return run_preview(_bot_settings(args), port=args.port) or 0


def cmd_sync(args) -> int:
    from bot import sync_global

    return sync_global(_bot_settings(args)) or 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qabot", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", help="TOML settings file (default: qabot.toml in the project root, or $QABOT_CONFIG)")
    p.add_argument("--index-dir", help="index folder (default: .qabot in the project root, or $QABOT_INDEX_DIR)")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to standard error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("ask", help="answer a question with verbatim quotes and links")
    a.add_argument("question", nargs="*", help="the question (quote it in the shell)")
    a.add_argument(
        "--json", action="store_true", help='print {"question","abstained","quotes":[…],"took_ms","confidence"}'
    )
    a.add_argument(
        "--batch", metavar="FILE", help="one question per line from FILE ('-' for standard input); implies --json"
    )
    a.add_argument(
        "--set",
        action="append",
        metavar="NAME",
        help="answer only from documents in this set (repeatable; default: every document, set `all`)",
    )
    a.add_argument(
        "--guild", type=int, metavar="ID", help="also search this Discord server's saved answers (set saved:ID)"
    )
    a.add_argument(
        "--previous",
        metavar="QUESTION",
        help="the earlier question this one follows up (its subject is carried over when needed)",
    )
    a.set_defaults(func=cmd_ask)

    i = sub.add_parser("index", help="sync the git and web sources, then build or update the index incrementally")
    i.add_argument("--full", action="store_true", help="re-embed every document instead of reusing unchanged ones")
    i.add_argument("--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for another build's lock")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    i.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="sync only this source before building (repeatable; default: every git and web source)",
    )
    i.add_argument(
        "--accept-removals",
        action="store_true",
        help="let a sync remove more than half of a source's documents (held as an error otherwise)",
    )
    i.set_defaults(func=cmd_index)

    s = sub.add_parser("sources", help="list the indexed documents with their links")
    s.add_argument("filter", nargs="?", help="only titles or paths containing this text")
    s.add_argument("--json", action="store_true")
    s.add_argument(
        "--status",
        action="store_true",
        help="only the sources: kind, documents, sets, last good sync, next sync, last error",
    )
    s.add_argument("--set", action="append", metavar="NAME", help="only documents in this set (repeatable)")
    s.add_argument("--guild", type=int, metavar="ID", help="list this Discord server's saved answers too")
    s.set_defaults(func=cmd_sources)

    e = sub.add_parser("eval", help="score answers on a question set (JSONL, the shared eval format)")
    e.add_argument("file")
    e.add_argument("--json", action="store_true", help="print one JSON object of totals")
    e.add_argument("-q", "--quiet", action="store_true", help="no table of misses")
    e.set_defaults(func=cmd_eval)

    c = sub.add_parser(
        "calibrate", help="fit the abstention threshold on labelled question sets and save it in the index folder"
    )
    c.add_argument("files", nargs="+", metavar="FILE", help="question sets in the eval format (pooled)")
    c.add_argument("--dry-run", action="store_true", help="print, do not save")
    c.add_argument(
        "--out",
        metavar="FILE",
        help="save here instead of INDEX_DIR/calibration.json (index/calibration.json is the shipped default)",
    )
    c.set_defaults(func=cmd_calibrate)

    b = sub.add_parser(
        "bench",
        help="benchmarks: `bench beir DIR` (retrieval quality), `bench squad DIR` "
        "(answering and abstaining, SQuAD 2.0 open), `bench speed`, `bench sources` (sync and watch), "
        "`bench sets` (filtered vs unfiltered search at 100k chunks) or `bench followups [FILE]` "
        "(two-turn exchanges alone and in context)",
    )
    b.add_argument("what", choices=["beir", "squad", "speed", "sources", "sets", "followups"])
    b.add_argument(
        "dir",
        nargs="?",
        help="the dataset folder (for `bench beir` and `bench squad`); for `bench followups` the exchanges "
        "(default tests/data/followups.jsonl)",
    )
    b.add_argument(
        "--folds",
        type=int,
        default=0,
        metavar="K",
        help="for `bench squad`: K article folds, each scored at a threshold fitted on the others",
    )
    b.add_argument(
        "--plot",
        metavar="FILE.png",
        help="for `bench squad`: accuracy and false abstention against the abstention threshold",
    )
    b.add_argument("--limit", type=int, default=0, metavar="N", help="for `bench squad`: the first N questions only")
    b.add_argument(
        "--bench-index",
        metavar="DIR",
        help="for `bench squad`: where its index is kept (default .bench_cache/squad2-index)",
    )
    b.add_argument("--split", default="test")
    b.add_argument("--sizes", default="demo,100k,1m", help="for `bench speed`: comma-separated sizes")
    b.add_argument("--no-txtai", action="store_true", help="skip the txtai comparison")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

    t = sub.add_parser(
        "train",
        help="fit the reader (which sentence answers, and whether any does) on SQuAD 2.0 and labelled bundled sets",
    )
    t.add_argument("--squad", default="../shared/bench/squad2", metavar="DIR", help="SQuAD 2.0 benchmark folder")
    t.add_argument(
        "--bundled",
        nargs="*",
        metavar="FILE",
        help="labelled question sets over the bundled corpus (default: the dev, validation and training splits)",
    )
    t.add_argument("--out", default=".bench_cache/reader", metavar="DIR", help="where reader.json and its manifest go")
    t.add_argument("--folds", type=int, default=5, metavar="K", help="held-out folds for the manifest's figures")
    t.add_argument("--json", action="store_true", help="print the manifest as JSON")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("report", help="unanswered questions and downvoted answers, most frequent first")
    r.add_argument("--limit", type=int, default=30)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_report)

    st = sub.add_parser("stats", help="index and activity counts")
    st.set_defaults(func=cmd_stats)

    sv = sub.add_parser("serve", help="run the Discord bot (needs DISCORD_TOKEN)")
    sv.set_defaults(func=cmd_serve)
    pv = sub.add_parser("preview", help="try the bot without a token in a local browser page")
    pv.add_argument("--port", type=int, default=8765)
    pv.set_defaults(func=cmd_preview)
    sy = sub.add_parser("sync", help="sync slash commands globally (a deliberate, occasional step)")
    sy.set_defaults(func=cmd_sync)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.command == "ask":
        if args.batch:
            args.json = True
        elif not args.question:
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            sub.choices["ask"].print_help(sys.stderr)
            print(
                '\nqabot: no question given; ask something like: qabot ask "Which banks were sanctioned?"',
                file=sys.stderr,
            )
            return EXIT_BAD_QUESTION
    from index.terminal import SafeFormatter, visible

    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from index.errors import IndexUnavailableError, QabotError, QuestionError

    def fail(exc: QabotError, code: int) -> int:
        print(visible(f"qabot: {exc}" + (f"; {exc.hint}" if exc.hint else ""), keep=""), file=sys.stderr)
        return code

    try:
        return args.func(args)
    except QuestionError as exc:
        return fail(exc, EXIT_BAD_QUESTION)
    except IndexUnavailableError as exc:
        return fail(exc, EXIT_NO_INDEX)
    except QabotError as exc:
        return fail(exc, EXIT_ERROR)
    except KeyboardInterrupt:
        print("qabot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
