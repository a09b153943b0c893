"""The desk pages' words (login, refusals, the entry log review), Chinese first, English second.

Messages that come from services (a refusal's reason, a filter error) are English, like every service
message in this project; the pages translate the refusal codes they know.
"""

from __future__ import annotations

from typing import Any

from urllib.parse import urlencode

from flask import current_app, request, session

LANGUAGES = ("zh-CN", "en")

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app": "出入记录审查", "login.title": "桌面登录", "login.username": "用户名", "login.password": "密码",
        "login.submit": "登录", "login.note": "本系统的出入记录属于个人信息（§2.4），每次查看、搜索和导出都会被记录。",
        "logout": "退出登录", "nav.search": "搜索", "nav.summary": "每日汇总", "nav.kiosk": "点名屏幕",
        "refused.title": "无法完成", "refused.back": "返回",
        "search.title": "出入记录搜索", "f.person": "人员（工号或姓名）", "f.badge": "工牌 UID", "f.door": "门",
        "f.visitor": "访客（审批号或姓名）", "f.kind": "类型", "f.outcome": "结果", "f.from": "开始（当地时间）",
        "f.to": "结束（不含）", "f.all_doors": "全部门", "f.apply": "搜索", "f.reset": "清除",
        "f.floor": "楼层", "f.all_floors": "全部楼层",
        "f.times": "时间为当地时间（{tz}）；只填日期时，“结束”包含当天。",
        "r.at": "时间", "r.kind": "类型", "r.who": "人员", "r.actor": "来源", "r.subject": "对象", "r.outcome": "结果",
        "r.reason": "说明", "r.rule": "规则", "r.seq": "链序号", "r.none": "没有符合条件的记录",
        "page.older": "更早 →", "page.newer": "← 更新", "page.first": "回到最新",
        "export.csv": "导出 CSV", "export.xlsx": "导出 XLSX",
        "export.title": "导出出入记录", "export.rows": "共 {n} 条记录，截至链序号 {seq}",
        "export.start": "如果下载没有自动开始，请点这里", "export.progress": "已传送 {done} / {total} 条",
        "export.done": "完成：{total} 条记录已传送。", "export.verify": "收件人可用以下命令核对文件未被改动：",
        "event.title": "记录详情", "event.chain": "哈希链位置", "event.state": "核验", "event.data": "数据",
        "event.prev": "上一条", "event.next": "下一条", "state.verified": "已核验", "state.edited": "已被改动",
        "state.broken": "链接断开", "state.unsealed": "尚未封存",
        "person.title": "人员时间线", "door.title": "门的时间线", "door.opening": "开门", "door.grant": "放行依据",
        "door.closed": "关门", "door.alarms": "告警", "door.refusals": "被拒绝的刷卡", "door.other_alarms": "其他告警",
        "how.granted": "刷卡放行", "how.reopened": "同一放行再次开门（可能尾随）", "how.forced": "无放行（非法开门）",
        "range.from": "从", "range.to": "到", "range.apply": "显示",
        "summary.title": "每日汇总", "summary.openings": "开门", "summary.refusals": "拒绝", "summary.alarms": "告警",
        "summary.month": "本月每日记录数", "summary.prev": "← 前一天", "summary.next": "后一天 →",
        "type.tap": "点名刷卡", "type.door_tap": "门禁刷卡", "type.door": "通过门", "type.sign_in": "签入/签出",
        "type.flag": "现场提示", "type.other": "其他",
    },
    "en": {
        "app": "Entry log review", "login.title": "Desk login", "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.note": "The entry log is personal information (§2.4): every view, search and export is itself logged.",
        "logout": "Log out", "nav.search": "Search", "nav.summary": "Daily summary", "nav.kiosk": "Roll call screen",
        "refused.title": "Not possible", "refused.back": "Back",
        "search.title": "Entry log search", "f.person": "Person (employee no. or name)", "f.badge": "Badge UID",
        "f.door": "Door", "f.visitor": "Visitor (approval no. or name)", "f.kind": "Kind", "f.outcome": "Outcome",
        "f.from": "From (local time)", "f.to": "To (exclusive)", "f.all_doors": "All doors", "f.apply": "Search",
        "f.floor": "Floor", "f.all_floors": "All floors",
        "f.reset": "Clear", "f.times": "Local time ({tz}); a date alone as “to” includes that whole day.",
        "r.at": "Time", "r.kind": "Kind", "r.who": "Person", "r.actor": "Source", "r.subject": "Subject",
        "r.outcome": "Outcome", "r.reason": "Note", "r.rule": "Rule", "r.seq": "Seq", "r.none": "No matching rows",
        "page.older": "Older →", "page.newer": "← Newer", "page.first": "Back to newest",
        "export.csv": "Export CSV", "export.xlsx": "Export XLSX",
        "export.title": "Export of the entry log", "export.rows": "{n} rows, up to chain seq {seq}",
        "export.start": "If the download did not start, click here", "export.progress": "{done} of {total} rows sent",
        "export.done": "Done: {total} rows sent.",
        "export.verify": "The recipient checks that nothing was altered with:",
        "event.title": "Event", "event.chain": "Place in the hash chain", "event.state": "Verification",
        "event.data": "Data", "event.prev": "Previous", "event.next": "Next", "state.verified": "Verified",
        "state.edited": "Edited", "state.broken": "Chain broken", "state.unsealed": "Not sealed yet",
        "person.title": "Person timeline", "door.title": "Door timeline", "door.opening": "Opened",
        "door.grant": "Explained by", "door.closed": "Closed", "door.alarms": "Alarms",
        "door.refusals": "Refused taps", "door.other_alarms": "Other alarms",
        "how.granted": "Granted", "how.reopened": "Re-opened on the same grant (possible tailgating)",
        "how.forced": "No grant (forced open)",
        "range.from": "From", "range.to": "To", "range.apply": "Show",
        "summary.title": "Daily summary", "summary.openings": "Openings", "summary.refusals": "Refusals",
        "summary.alarms": "Alarms", "summary.month": "Events per day this month", "summary.prev": "← Previous day",
        "summary.next": "Next day →",
        "type.tap": "Roll call tap", "type.door_tap": "Door tap", "type.door": "Door passage",
        "type.sign_in": "Sign-in / sign-out", "type.flag": "Floor flag", "type.other": "Other",
    },
}


def desk_language() -> str:
    """``?lang=`` (remembered for the browser session), else what this browser chose, else the configured one."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else str(current_app.config["LANGUAGE"])


def t(key: str, **values: Any) -> str:
    """A word in the desk language, with ``{name}`` placeholders filled."""
    words = WORDS.get(desk_language(), WORDS["zh-CN"])
    text = words.get(key) or WORDS["en"].get(key) or key
    return text.format(**values) if values else text


def lang_url() -> str:
    """This page (GET arguments kept) in the other language."""
    args = request.args.to_dict() if request.method == "GET" else {}
    args["lang"] = "en" if desk_language() == "zh-CN" else "zh-CN"
    # A page answering a form (a refused login, an export) has no GET of its own: go to where it came from.
    path = request.path if request.method == "GET" else ("/login" if request.path == "/login" else "/review/")
    return path + "?" + urlencode(args)
