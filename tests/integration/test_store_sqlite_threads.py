"""SQLiteStore written by many threads of one process at once (AsyncChat's store writes
run in worker threads): they take turns, none fails on SQLite's busy timeout."""

from __future__ import annotations

import threading
from pathlib import Path

from claudechat.messages import Message
from claudechat.store import SQLiteStore


def test_many_threads_writing_at_once_all_succeed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "chat.db", busy_timeout=0.01)
    conversations = [store.create_conversation(title=f"c{n}").id for n in range(8)]
    failures: list[BaseException] = []
    start = threading.Barrier(len(conversations))

    def write(cid: str) -> None:
        start.wait()
        try:
            for n in range(25):
                store.append(cid, Message("user", [{"type": "text", "text": f"m{n}"}]))
        except BaseException as err:  # counted, then asserted
            failures.append(err)

    threads = [threading.Thread(target=write, args=(cid,)) for cid in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [len(store.all_messages(cid)) for cid in conversations] == [25] * 8
    store.close()
