"""Realistic generated floor data for the demo: 120 seats in 4 zones, 4 shifts over 24 h, ~150 staff.

The shifts are anchored to the moment the demo starts, so a roll call is open when the screen
first appears: the first shift starts 15 minutes from now (rounded to 5 minutes).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from kiosk.services.context import ServiceContext
from kiosk.services.rollcall import CONSOLE_ROLES
from kiosk.services.users import hash_password
from kiosk.store.db import sync_sequences
from kiosk.store.eventlog import log_event
from kiosk.store.models import (FIRST_FLOOR, ArmedBindingRow, Badge, LeaderSessionRow, Notice, RosterEntry, Screen, Seat,
                                Shift, Staff, VisitorApproval, VisitorCard, Zone)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鑫波斌宇浩凯健俊帆帅旭宁龙林欣悦彤雪琳晨曦婷颖佳琪倩"

ZONES = [("A", "A 区 · 市民热线"), ("B", "B 区 · 政策咨询"), ("C", "C 区 · 投诉受理"), ("D", "D 区 · 回访质检")]
SHIFT_NAMES = [("M", "早班"), ("D", "中班"), ("E", "晚班"), ("N", "夜班")]

# Badges the demo's tap panel offers: (label, uid). Filled in by generate().
DemoBadges = list[dict[str, str]]

# The kiosk PIN of every demo leader, supervisor, security officer and admin (badge + PIN at the kiosk).
# Not a run or a repeat, so it passes the weak-PIN rules (kiosk.domain.pins); a demo's PIN is no secret.
DEMO_PIN = "2580"


def _uid(rng: random.Random) -> str:
    return "04" + "".join(f"{rng.randrange(256):02X}" for _ in range(6))


def generate(ctx: ServiceContext, seed: int = 12345, now: datetime | None = None) -> DemoBadges:
    """Fill an empty database with a realistic floor; return badges worth tapping in the demo."""
    rng = random.Random(seed)
    now = now or ctx.now()
    local = now.astimezone(ctx.tz)
    first = (local + timedelta(minutes=15)).replace(second=0, microsecond=0)
    first = first.replace(minute=first.minute - first.minute % 5)
    today: date = local.date()
    # Hashed once for all of them (scrypt is slow on purpose): one salt shared is fine for a demo's PIN.
    pin_hash = hash_password(DEMO_PIN)
    with ctx.engine.begin() as conn:
        for table in (LeaderSessionRow, RosterEntry, Badge, Notice, Seat, Staff, Zone, Shift):
            conn.execute(delete(table.__table__))
        conn.execute(insert(Zone.__table__), [{"id": z, "name": n} for z, n in ZONES])
        seats = []
        for zi, (zone, _name) in enumerate(ZONES):
            for i in range(30):
                row, col = divmod(i, 6)
                seats.append({"id": f"{zone}-{i + 1:02d}", "zone_id": zone,
                              "x": 60 + (zi % 2) * 520 + col * 80, "y": 60 + (zi // 2) * 360 + row * 64})
        conn.execute(insert(Seat.__table__), seats)
        shifts = []
        for k, (code, name) in enumerate(SHIFT_NAMES):
            start = first + timedelta(hours=6 * k)
            end = start + timedelta(hours=6)
            shifts.append({"code": code, "name": name, "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")})
        conn.execute(insert(Shift.__table__), shifts)

        staff = []
        used: set[str] = set()
        for n in range(150):
            while True:
                name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
                if name not in used:
                    used.add(name)
                    break
            role = "leader" if n < 8 else "supervisor" if n < 10 else "security" if n < 12 else \
                "admin" if n == 12 else "operator"
            staff.append({"id": n + 1, "employee_no": f"{10001 + n}", "name": name, "role": role,
                          "post_level": "L2" if role == "leader" else rng.choice(("L1", "L1", "L2")),
                          "skill_grade": rng.choice(("A", "B", "B", "C")), "active": n != 149,
                          "pin_hash": pin_hash if role in CONSOLE_ROLES else None})
        conn.execute(insert(Staff.__table__), staff)
        sync_sequences(conn, ("staff",))  # ids were given: later inserts must not collide on PostgreSQL
        badges = [{"uid": _uid(rng), "staff_id": s["id"], "status": "active" if s["active"] else "revoked",
                   "issued_on": date(2025, 3, 1), "revoked_on": None if s["active"] else today}
                  for s in staff]
        badges[147]["status"] = "lost"
        conn.execute(insert(Badge.__table__), badges)

        # Today's roster: the first shift gets 30 operators + its duty leader; the others fewer.
        operators = [s for s in staff if s["role"] == "operator" and s["active"]]
        rng.shuffle(operators)
        leaders = [s for s in staff if s["role"] == "leader"]
        roster = []
        sizes = [30, 28, 24, 18]
        cursor = 0
        for k, (code, _name) in enumerate(SHIFT_NAMES):
            day = (first + timedelta(hours=6 * k)).date()
            crew = operators[cursor:cursor + sizes[k]]
            cursor += sizes[k]
            free_seats = [s["id"] for s in seats]
            rng.shuffle(free_seats)
            roster.append({"day": day, "shift_code": code, "staff_id": leaders[k]["id"], "seat_id": None,
                           "duty": "leader"})
            for person, seat in zip(crew, free_seats):
                roster.append({"day": day, "shift_code": code, "staff_id": person["id"], "seat_id": seat,
                               "duty": "operator"})
        conn.execute(insert(RosterEntry.__table__), roster)
        conn.execute(insert(Notice.__table__), [
            {"title": "供暖政策咨询口径更新", "body": "今日起供暖费补贴申请统一转区住建局，工单注明“供暖补贴”。",
             "question": "供暖补贴申请应转哪个部门？", "valid_from": today, "valid_until": today + timedelta(days=7)},
            {"title": "系统维护提醒", "body": "凌晨 02:00–02:30 知识库维护，期间请使用离线口径手册。",
             "question": "知识库维护期间应使用什么？", "valid_from": today, "valid_until": today + timedelta(days=1)},
            {"title": "示忙与整理时长", "body": "示忙、整理时长每日各不超过 40 分钟（§8.8）。", "question": None,
             "valid_from": today, "valid_until": today + timedelta(days=30)},
        ])
        # The kiosk screen's place on the plan ("you are here" on the floor map), beside the main door. An
        # unpaired screen row: the demo needs no pairing, and pairing the name later keeps the place.
        screen = conn.execute(select(Screen.__table__.c.id).where(Screen.__table__.c.name == KIOSK["name"])).first()
        if screen is None:
            conn.execute(insert(Screen.__table__).values(name=KIOSK["name"], paired_by="demo", x=KIOSK["x"],
                                                         y=KIOSK["y"], floor_id=FIRST_FLOOR))
        else:
            conn.execute(update(Screen.__table__).where(Screen.__table__.c.id == screen.id)
                         .values(x=KIOSK["x"], y=KIOSK["y"]))
        log_event(conn, at=now, kind="demo_data_generated", actor="cli", outcome="ok",
                  data={"staff": len(staff), "seats": len(seats), "roster": len(roster),
                        "kiosk_pins": sum(1 for s in staff if s["pin_hash"])})

    first_crew = [r for r in roster if r["shift_code"] == "M"]
    by_id = {s["id"]: s for s in staff}
    uid_of = {b["staff_id"]: b["uid"] for b in badges}
    panel: DemoBadges = []
    for r in first_crew[:6]:
        s = by_id[r["staff_id"]]
        panel.append({"label": f"{s['name']} {s['employee_no']}" + (" (班长)" if r["duty"] == "leader" else ""),
                      "uid": uid_of[s["id"]]})
    other = next(r for r in roster if r["shift_code"] == "D" and r["duty"] == "operator")
    panel.append({"label": f"{by_id[other['staff_id']]['name']} (中班)", "uid": uid_of[other["staff_id"]]})
    panel.append({"label": f"{staff[147]['name']} (挂失)", "uid": badges[147]["uid"]})
    panel.append({"label": f"{staff[149]['name']} (已离职)", "uid": badges[149]["uid"]})
    panel.append({"label": "未知卡片", "uid": "DEADBEEF0001"})
    return panel


# §6.5, §6.6: the demo's call-area door on the demo node's contacts (kiosk.devices.sensor_sim.POINTS), with a
# simulated badge reader `door-main` (the demo runs with DOOR_READERS=door-main=sim).
DOOR = {"id": "main", "name": "话务区正门", "contact_point": "door:main", "exit_point": "exit:main",
        "readers": ["door-main"], "x": 520, "y": 760}  # on the plan: below the zones, between their columns
KIOSK = {"name": "kiosk", "x": 640, "y": 790}  # the demo's kiosk screen, just outside the main door
DOOR_READERS = "door-main=sim"

# §2.2: the demo's spare visitor cards (访客卡 1, 2) and one already bound to a visit that has ended (访客卡 3).
VISITOR_CARDS = ("0F1C2A01", "0F1C2A02", "0F1C2A03")
MANAGEMENT = {"employee_no": "30001", "name": "郑晓岚"}  # the Hotline Management Section (热线管理科)


def add_visitors(ctx: ServiceContext, now: datetime | None = None) -> DemoBadges:
    """Visitor approvals for the demo (§2.2) by a management section member; return the visitor cards to offer.

    Approvals: one valid now with an escort required, one valid now without, and one that ended an hour ago
    with 访客卡 3 still bound to it, so a tap at the door shows the refusal and the alarm naming the visitor.
    Run after ``generate`` (it names the first shift's duty leader as a host).
    """
    from kiosk.services import visitors

    now = now or ctx.now()
    approvals, cards = VisitorApproval.__table__, VisitorCard.__table__
    with ctx.engine.begin() as conn:
        # A regenerated demo starts without the last run's visits, or a kiosk armed for one of them.
        for table in (ArmedBindingRow.__table__, cards, approvals):
            conn.execute(delete(table))
        if conn.execute(select(Staff.__table__.c.id).where(Staff.__table__.c.role == "management")).first() is None:
            conn.execute(insert(Staff.__table__).values(
                employee_no=MANAGEMENT["employee_no"], name=MANAGEMENT["name"], role="management", post_level="L2",
                skill_grade="A", active=True))
        by = conn.execute(select(Staff.__table__.c.employee_no).where(Staff.__table__.c.role == "management")
                          .order_by(Staff.__table__.c.employee_no)).scalar_one()
        hosts = conn.execute(select(Staff.__table__.c.employee_no).where(Staff.__table__.c.role == "leader",
                                                                         Staff.__table__.c.active.is_(True))
                             .order_by(Staff.__table__.c.employee_no)).scalars().all()
    start = now - timedelta(minutes=10)
    visitors.create_approval(ctx, by, {
        "name": "谭明", "organisation": "市数据局", "id_doc_tail": "123X", "purpose": "visit",
        "valid_from": start, "valid_until": now + timedelta(hours=3), "host_employee_no": hosts[0],
        "escort_required": True})
    visitors.create_approval(ctx, by, {
        "name": "林舒", "organisation": "市融媒体中心", "id_doc_tail": "4521", "purpose": "photograph",
        "valid_from": start, "valid_until": now + timedelta(hours=2), "host_employee_no": hosts[1],
        "escort_required": False})
    # An approval cannot be recorded once its window has ended, so the ended visit is written as history,
    # as the rest of the demo floor is: approved three hours ago, card handed out, never signed out.
    with ctx.engine.begin() as conn:
        ended = conn.execute(insert(approvals).values(
            name="周航", organisation="区政务服务中心", id_doc_tail="0087", purpose="consult",
            valid_from=now - timedelta(hours=3), valid_until=now - timedelta(hours=1), host_employee_no=hosts[0],
            escort_required=False, created_by=by, created_at=now - timedelta(hours=4))).inserted_primary_key[0]
        conn.execute(insert(cards).values(uid=VISITOR_CARDS[2], approval_id=ended, bound_at=now - timedelta(hours=3),
                                          bound_by=hosts[0], inside=False))
        log_event(conn, at=ctx.now(), kind="demo_visitors_generated", actor="cli", outcome="ok",
                  data={"approvals": 3, "bound_card": VISITOR_CARDS[2]})
    return [{"label": "访客卡 1", "uid": VISITOR_CARDS[0], "kind": "visitor"},
            {"label": "访客卡 2", "uid": VISITOR_CARDS[1], "kind": "visitor"},
            {"label": "访客卡 3 (过期)", "uid": VISITOR_CARDS[2], "kind": "visitor"}]


def write_panel(ctx: ServiceContext, panel: DemoBadges) -> None:
    """Keep the demo's tap panel next to the instance, for the page to offer."""
    import json
    from pathlib import Path

    Path(ctx.config["INSTANCE_PATH"], "demo_badges.json").write_text(json.dumps(panel, ensure_ascii=False))


def read_panel(instance_path: str) -> list[dict[str, Any]]:
    """The demo's tap panel, or nothing outside the demo."""
    import json
    from pathlib import Path

    p = Path(instance_path, "demo_badges.json")
    return json.loads(p.read_text()) if p.exists() else []
