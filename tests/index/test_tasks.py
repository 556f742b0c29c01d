"""Task extraction: patterns, deadline normalisation, aliases, conflicts, and the gold table."""

from __future__ import annotations

import json

import pytest

from index.lang.facts import canonical_agency
from index.load import load_path
from index.tasks import extract_tasks, flag_conflicts, normalize_deadline
from tests.conftest import ROOT, SAMPLE

GOLD = ROOT / "data" / "eval" / "tasks-gold.jsonl"


@pytest.mark.parametrize(
    ("text", "year", "expected"),
    [
        ("trong quý 3/2026", None, ("2026-07-01", "2026-09-30")),
        ("trong quý III/2026", None, ("2026-07-01", "2026-09-30")),
        ("trong quý 1 năm 2026", None, ("2026-01-01", "2026-03-31")),
        ("ngay trong quý 1/2026", None, ("2026-01-01", "2026-03-31")),
        ("trong tháng 6.2026", None, ("2026-06-01", "2026-06-30")),
        ("trong tháng 2/2028", None, ("2028-02-01", "2028-02-29")),
        ("trong tháng 3", 2026, ("2026-03-01", "2026-03-31")),
        ("trong năm 2026", None, ("2026-01-01", "2026-12-31")),
        ("trước ngày 10/2", 2026, (None, "2026-02-10")),
        ("trước ngày 15/3/2017", None, (None, "2017-03-15")),
        ("trong ngày 5 tháng 9 năm 2026", None, ("2026-09-05", "2026-09-05")),
        ("chậm nhất trong quý 2/2026", None, (None, "2026-06-30")),
        ("giai đoạn 2026 - 2030", None, ("2026-01-01", "2030-12-31")),
        ("trong tháng 3", None, (None, None)),  # no year known: no range invented
        ("trước ngày 31/2", 2026, (None, None)),  # not a date
    ],
)
def test_normalize_deadline(text, year, expected):
    assert normalize_deadline(text, year) == expected


@pytest.mark.parametrize(
    ("sentence", "lead", "collaborators", "deadline"),
    [
        ("Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.", "Bộ Y tế", (),
         "trong quý 3/2026"),
        ("Bộ KH-CN chủ trì, phối hợp với Bộ Công an, Bộ Nội vụ hướng dẫn các địa phương, hoàn thành "
         "trong tháng 2/2026.", "Bộ Khoa học và Công nghệ", ("Bộ Công an", "Bộ Nội vụ"), "trong tháng 2/2026"),
        ("Thủ tướng giao Bộ Tài chính rà soát ngân sách ngay trong quý 1/2026.", "Bộ Tài chính", (),
         "ngay trong quý 1/2026"),
        ("Bộ Tài chính phối hợp với Bộ Công an xây dựng khung pháp lý, hoàn thành trong tháng 6/2026.",
         "Bộ Tài chính", ("Bộ Công an",), "trong tháng 6/2026"),
        ("Bộ Công Thương chỉ đạo Tập đoàn Điện lực khắc phục tình trạng thiếu điện.", "Bộ Công Thương",
         ("Tập đoàn Điện",), None),
        ("UBND tỉnh Quảng Ninh báo cáo Thủ tướng trước ngày 10/2.", "UBND tỉnh Quảng Ninh", (), "trước ngày 10/2"),
        ("Bộ NN-MT khẩn trương hoàn thiện hồ sơ.", "Bộ Nông nghiệp và Môi trường", (), "khẩn trương"),
    ],
)
def test_assignment_patterns(sentence, lead, collaborators, deadline):
    (task,) = extract_tasks("d", sentence, "2026-02-25")
    assert (task.lead, task.collaborators, task.deadline_text) == (lead, collaborators, deadline)
    assert sentence[task.start : task.end] == task.sentence


def test_list_items_share_their_sentence_lead_and_reports_are_not_tasks():
    text = ("Bộ Công an xây dựng Nghị định, hoàn thành trong quý 1/2026; cơ chế về Sàn dữ liệu, hoàn thành "
            "trong quý 2/2026. Bộ Y tế đã hoàn thành việc kết nối dữ liệu với 34 địa phương. "
            "Thủ tướng đề nghị hai hãng thông tấn hợp tác chặt chẽ; cung cấp thông tin chuẩn xác.")
    tasks = extract_tasks("d", text, "2026-02-25")
    assert [(t.lead, t.due_end) for t in tasks] == [("Bộ Công an", "2026-03-31"), ("Bộ Công an", "2026-06-30")]


def test_aliases():
    for alias in ("Bộ KH-CN", "Bộ KH&CN", "bộ khoa học và công nghệ", "Bộ KHCN"):
        assert canonical_agency(alias) == "Bộ Khoa học và Công nghệ"
    assert canonical_agency("Bộ NN-MT") == "Bộ Nông nghiệp và Môi trường"
    assert canonical_agency("Bộ GD-ĐT") == "Bộ Giáo dục và Đào tạo"
    assert canonical_agency("Bộ TN&MT") == "Bộ Tài nguyên và Môi trường"


def test_conflicts_are_incompatible_versions_of_one_assignment():
    a = extract_tasks("a", "Cơ sở dữ liệu thanh tra tài sản, thu nhập do Thanh tra Chính phủ chủ trì, hoàn thành "
                           "trong quý 3/2026. Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành "
                           "trong quý 3/2026.")
    b = extract_tasks("b", "Cơ sở dữ liệu thanh tra tài sản, thu nhập do Thanh tra Chính phủ chủ trì, hoàn thành "
                           "trong tháng 6.2026. Cơ sở dữ liệu ngành Nông nghiệp do Bộ NN-MT chủ trì, hoàn thành trong "
                           "quý 3/2026. Cơ sở dữ liệu ngành y tế do Bộ Y tế chủ trì, hoàn thành trong tháng 9/2026.")
    flagged = {t.task_id: t.conflicts for t in flag_conflicts(a + b)}
    assert flagged[a[0].task_id] == (b[0].task_id,)  # quý 3 vs tháng 6: no overlap
    assert flagged[a[1].task_id] == ()  # quý 3 and tháng 9 overlap: compatible
    assert flagged[b[1].task_id] == ()  # a different database is not a conflict


def _gold_scores() -> tuple[float, float]:
    gold = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    predicted = []
    for path in sorted(SAMPLE.iterdir()):
        doc = next(load_path(path))
        predicted += [(path.name, t, doc.text) for t in extract_tasks(doc.doc_id, doc.text, doc.date)]
    used: set[int] = set()
    hits = 0
    for g in gold:
        for i, (name, t, text) in enumerate(predicted):
            at = text.find(g["sentence"])
            if (i not in used and name == g["doc"] and t.lead == g["lead"]
                    and (t.due_start, t.due_end) == (g["due_start"], g["due_end"])
                    and at >= 0 and at < t.end and t.start < at + len(g["sentence"])):
                used.add(i)
                hits += 1
                break
    return hits / len(predicted), hits / len(gold)


def test_gold_table_precision_and_recall():
    precision, recall = _gold_scores()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


@pytest.mark.parametrize("sentence", [
    "Dự án nằm trong chương trình phát triển đô thị của thành phố.",  # "trình" inside "chương trình"
    "Dưới sự chỉ đạo của Bộ Xây dựng, các công trình được nghiệm thu.",
    "Trước đó, Thủ tướng đã yêu cầu Bộ Công an xử lý dứt điểm vụ việc.",
    "Ông Nguyễn Văn A, Giám đốc Sở Y tế cho biết Sở sẽ tăng cường kiểm tra.",
    "Hội nghị do Bộ Tài chính chủ trì đã thu hút 300 đại biểu.",
    "(Ảnh: Bộ Y tế cung cấp)",
])
def test_reports_speech_and_meetings_are_not_tasks(sentence):
    assert extract_tasks("d", sentence, "2017-05-01") == []


def test_urgency_is_quoted_and_before_a_month_ends_the_month_before():
    (task,) = extract_tasks("d", "Bộ Y tế sớm ban hành hướng dẫn.", "2017-05-01")
    assert task.deadline_text == "sớm" and task.due_end is None
    assert normalize_deadline("trước tháng 6/2017", None) == (None, "2017-05-31")
    assert normalize_deadline("trước năm 2020", None) == (None, "2019-12-31")


def _stored_vs_pairwise(store) -> tuple[dict, dict]:
    stored = {t.task_id: t.conflicts for t in store.tasks()}
    pairwise = {t.task_id: tuple(sorted(t.conflicts)) for t in flag_conflicts(store.tasks())}
    return stored, pairwise


def test_conflicts_stored_at_index_time_equal_the_pairwise_comparison(tmp_path):
    """The stored flags (prefix-filtered candidates, updated per document) are exactly what comparing
    every pair finds, after documents are added, changed and removed."""
    conflicts_match_pairwise(tmp_path / "d.sqlite")


def conflicts_match_pairwise(target) -> None:
    """The check above on a store at ``target`` (a SQLite file or a PostgreSQL URL)."""
    import random

    from index.docstore import DocStore
    from index.load import Document
    from index.tasks import Task

    rng = random.Random(7)
    vocabulary = ("xây dựng cơ sở dữ liệu quốc gia về dân cư đất đai bảo hiểm y tế giáo dục đề án chương trình "
                  "chuyển đổi số hạ tầng kết nối chia sẻ thủ tục hành chính cải cách báo cáo").split()
    leads = ["Bộ Công an", "Bộ Y tế", "Bộ Tài chính"]
    deadlines = [("2026-07-01", "2026-09-30"), ("2026-06-01", "2026-06-30"), (None, None), ("2026-12-01", "2026-12-31")]
    base = [rng.sample(vocabulary, rng.randint(4, 9)) for _ in range(8)]

    def tasks_of(doc_id: str, count: int) -> list[Task]:
        out = []
        for i in range(count):
            phrase = list(rng.choice(base))
            if rng.random() < 0.5:  # a near copy: one word swapped
                phrase[rng.randrange(len(phrase))] = rng.choice(vocabulary)
            start, end = deadlines[rng.randrange(len(deadlines))]
            text = " ".join(phrase)
            out.append(Task(f"{doc_id}-{i}", doc_id, rng.choice(leads), (), text, end, start, end, text, 0, 1))
        return out

    store = DocStore(target)
    try:
        for n in range(12):
            doc = Document(f"d{n}", f"văn bản {n}", f"Văn bản {n}", f"/x/{n}.txt")
            store.put([(doc, [], [doc.source])], "c", "m")
            store.put_tasks(doc.doc_id, tasks_of(doc.doc_id, 6), "v")
        stored, pairwise = _stored_vs_pairwise(store)
        assert stored == pairwise and sum(map(bool, stored.values())) >= 10
        store.put_tasks("d3", tasks_of("d3", 4), "v")  # a changed document
        store.drop_sources(["/x/5.txt"])
        store.drop_unreferenced()  # a removed one
        stored, pairwise = _stored_vs_pairwise(store)
        assert stored == pairwise and not any(t.startswith("d5-") for ts in stored.values() for t in ts)
    finally:
        store.close()
