"""The guard's decisions on their own: which app a path belongs to, which file paths an event may name,
and what an event body may hold. The running app is tested in tests/hostile/test_web.py."""

from __future__ import annotations

import json

import pytest

from assistant.guard import Refused, check_event, inside_folder, parse_event, route_of


@pytest.mark.parametrize(("path", "expected"), [
    ("/", ("staff", "/")), ("/gradio_api/queue/join", ("staff", "/gradio_api/queue/join")),
    ("/widget", ("widget", "")), ("/widget/gradio_api/upload", ("widget", "/gradio_api/upload")),
    ("/admin/", ("admin", "/")), ("/admin/gradio_api/upload", ("admin", "/gradio_api/upload")),
    ("/admin/login", (None, "/admin/login")), ("/api/ask", (None, "/api/ask")), ("/doc/x", (None, "/doc/x")),
    ("/adminx", ("staff", "/adminx")), ("/widgets/x", ("staff", "/widgets/x")),
])
def test_route_of(path, expected):
    assert route_of(path) == expected


def test_inside_folder(tmp_path):
    folder = tmp_path / "gradio"
    (folder / "abc").mkdir(parents=True)
    (folder / "abc" / "a.txt").write_text("x")
    (folder / "abc" / "link.txt").symlink_to("/etc/passwd")
    assert inside_folder(str(folder / "abc" / "a.txt"), str(folder))
    for bad in ("/dev/zero", "/etc/passwd", str(folder), str(folder / "abc" / "link.txt"),
                f"{folder}/abc/../../outside.txt", f"{folder}/../gradio/abc/a.txt", "abc/a.txt", "",
                f"{folder}/abc/a.txt\x00", "http://127.0.0.1/x", None, 7, str(tmp_path / "gradio-other" / "a")):
        assert not inside_folder(bad, str(folder)), bad


def test_check_event_finds_file_objects_anywhere(tmp_path):
    folder = tmp_path / "gradio"
    (folder / "h").mkdir(parents=True)
    ok = str(folder / "h" / "a.txt")
    meta = {"_type": "gradio.FileData"}
    check_event({"data": ["câu hỏi", [{"role": "user", "content": "x"}]], "fn_index": 1}, None)
    check_event({"data": [[{"path": ok, "meta": meta}]]}, str(folder))
    for data in ({"data": [{"path": "/dev/zero", "meta": meta}]},
                 {"data": [[{"role": "user", "content": [{"type": "file", "file": {"path": "/etc/passwd"}}]}]]},
                 {"event_data": {"x": [{"url": "http://x", "meta": meta}]}}):
        with pytest.raises(Refused) as refused:
            check_event(data, str(folder))
        assert refused.value.status == 400
    with pytest.raises(Refused):  # the staff app and the widget take no file at all, not even uploaded ones
        check_event({"data": [{"path": ok, "meta": meta}]}, None)
    with pytest.raises(Refused):
        check_event(json.loads('{"data": ["\\ud800"]}'), None)


@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1, "a": 2}', b"[" * 100000, b"\xff\xfe\x00"])
def test_parse_event_refuses(body):
    with pytest.raises(Refused):
        parse_event(body)
