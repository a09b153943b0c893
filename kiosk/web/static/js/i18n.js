// Every word the kiosk shows, in zh-CN (the floor's language) and English.
// Terms follow the "Words the floor uses" table of the floor rules (到, 迟到, 缺勤, 已请假, 值班班长, 工号, 坐席 …).
// Static elements name their key in data-i18n / data-i18n-placeholder; scripts call t(key, params).

export const LANGUAGES = ["zh-CN", "en"];
const STORAGE_KEY = "kiosk.language";

export const DICT = {
  "zh-CN": {
    "app.title": "班前会点名",
    "lang.toggle": "English",
    "conn.connecting": "正在连接…",
    "conn.ok": "已连接",
    "conn.lost": "连接已断开，正在重连…",
    "conn.lost.since": "连接已断开 {s} 秒，正在重连… 刷卡暂不显示，请稍候",
    "reader.connected": "读卡器正常",
    "reader.disconnected": "读卡器未连接",
    "reader.error": "读卡器故障",
    "reader.unknown": "读卡器状态未知",
    "reader.with_message": "{state}：{message}",
    "shift.none": "今日暂无排班",
    "shift.label": "{name}（{code}）",
    "shift.range": "{day} {start}–{end}",
    "countdown.to_start": "距开班 {t}",
    "countdown.started": "已开班 {m} 分钟",
    "countdown.to_window": "距点名开始 {t}",
    "countdown.closed": "本班点名已结束",
    "window.closed_next": "当前没有进行中的点名 — 下次点名 {time} 开始（{shift}）",
    "window.none": "当前没有进行中的点名",
    "window.closed": "本班点名已结束（{time}）",
    "counts.expected": "应到",
    "counts.present": "已到",
    "counts.late": "迟到",
    "counts.absent": "缺勤",
    "counts.excused": "请假",
    "counts.pending": "未到",
    "roster.title": "点名名单",
    "roster.empty": "本班没有排班人员",
    "status.pending": "未到",
    "status.present": "到",
    "status.late": "迟到",
    "status.absent": "缺勤",
    "status.excused": "已请假",
    "flag.manual": "班长登记",
    "flag.leader_late": "未提前{n}分钟",
    "duty.leader": "值班班长",
    "flag.leader": "班长",
    "seat": "坐席 {seat}",
    "seat.none": "无固定坐席",
    "empno": "工号 {no}",
    "notices.title": "今日提醒",
    "notices.none": "今日没有提醒",
    "idle.title": "请刷工牌",
    "idle.sub": "把工牌贴近读卡器，听到提示音即可",
    "outcome.present": "到",
    "outcome.late": "到 · 迟到",
    "outcome.duplicate": "已签到",
    "outcome.refused": "未签到",
    "outcome.failed": "未记录",
    "reason.present": "签到成功，请按顺序进入话务区",
    "reason.late": "已签到，记为迟到（开班时间 {start}）",
    "reason.duplicate": "已签到，无需重复刷卡",
    "reason.not_on_roster": "您不在本班（{shift}）的点名名单上，请联系值班班长",
    "reason.not_on_roster.on_shift": "您今天排在{on_shift}，不是本班（{shift}），请在您的班次点名时刷卡",
    "reason.unknown_badge": "这张卡没有登记，请联系值班班长",
    "reason.badge_lost": "此工牌已挂失，不能签到，请联系值班班长",
    "reason.badge_revoked": "此工牌已注销，不能签到，请联系值班班长",
    "reason.staff_left": "此工牌的持有人已离职，工牌已失效",
    "reason.outside_window": "现在不是点名时间",
    "reason.outside_window.next": "现在不是点名时间，下次点名 {time} 开始",
    "reason.outside_window.closed": "本班点名已结束，请联系值班班长登记",
    "reason.tap_failed": "未记录，请重新刷卡/联系班长",
    "reason.invalid_uid": "无法识别这张卡的卡号，请重新刷卡",
    "reason.leader_late": "值班班长应至少在开班前 {n} 分钟刷卡（§3.1）",
    "leader.title": "值班班长操作台",
    "leader.who": "{name}（工号 {no}）",
    "person": "{name}（{no}）",
    "leader.mark.closed": "本班点名已结束，不能再登记",
    "leader.idle": "无操作 {s} 秒后自动退出",
    "leader.end": "退出",
    "leader.mark.title": "手工登记",
    "leader.mark.pick": "选择未到人员，再选择原因",
    "leader.mark.none": "没有未到人员",
    "leader.cancel": "取消",
    "leader.confirm": "确认登记",
    "leader.note.placeholder": "补充说明（选“其他请假”时必填）",
    "reason.forgot": "忘带工牌（到）",
    "reason.leave": "事假",
    "reason.sick": "病假",
    "reason.other": "其他请假",
    "leader.marked": "已登记：{name} — {status}",
    "leader.question.pick": "随机抽问",
    "leader.answer.well": "答得好",
    "leader.answer.poor": "未答好",
    "leader.answer.saved": "已记录回答",
    "leader.close.title": "结束点名",
    "leader.close": "结束点名",
    "leader.close.confirm": "再点一次确认结束点名",
    "leader.closed": "点名已结束，缺勤 {n} 人",
    "leader.working": "正在处理…",
    "error.leader_required": "请先刷值班班长工牌",
    "error.rollcall_not_open": "现在没有进行中的点名",
    "error.rollcall_closed": "本班点名已经结束",
    "error.not_on_roster": "此人不在本班名单上",
    "error.already_present": "此人已经签到",
    "error.reason_required": "请填写原因",
    "error.bad_status": "只能登记为“到”或“请假”",
    "error.nobody_present": "还没有人签到，无法抽问",
    "error.no_question": "今日提醒中没有附带问题",
    "error.no_such_question": "找不到这道问题",
    "error.timeout": "服务器没有回应，请重试",
    "error.disconnected": "连接已断开，请稍后再试",
    "error.unknown": "操作未完成：{message}",
    "question.title": "每日一问",
    "question.who": "请 {name}（工号 {no}）回答：",
    "question.well": "回答：好",
    "question.poor": "回答：未答好",
    "closed.title": "点名已结束 · 缺勤名单",
    "closed.dismiss": "关闭",
    "closed.by": "{by} 于 {time} 结束点名",
    "closed.auto": "{time} 到时自动结束",
    "closed.summary": "已到 {present} · 迟到 {late} · 请假 {excused} · 缺勤 {absent}",
    "closed.none": "无人缺勤",
    "sim.title": "模拟刷卡（演示）",
    "sim.uid.placeholder": "输入卡号（十六进制）",
    "sim.tap": "刷卡",
    "sim.error": "模拟刷卡失败：{message}",
    "sim.label.leader": "班长",
    "sim.label.lost": "挂失",
    "sim.label.left": "已离职",
    "sim.label.unknown": "未知卡片",
    "sim.label.other_shift": "{shift}",
  },
  en: {
    "app.title": "Pre-shift roll call",
    "lang.toggle": "中文",
    "conn.connecting": "Connecting…",
    "conn.ok": "Connected",
    "conn.lost": "Connection lost — reconnecting…",
    "conn.lost.since": "Connection lost {s} s ago — reconnecting… Taps are not shown until it is back",
    "reader.connected": "Reader connected",
    "reader.disconnected": "Reader disconnected",
    "reader.error": "Reader error",
    "reader.unknown": "Reader status unknown",
    "reader.with_message": "{state}: {message}",
    "shift.none": "No shift scheduled",
    "shift.label": "{name} ({code})",
    "shift.range": "{day} {start}–{end}",
    "countdown.to_start": "Shift starts in {t}",
    "countdown.started": "Shift started {m} min ago",
    "countdown.to_window": "Roll call opens in {t}",
    "countdown.closed": "Roll call closed",
    "window.closed_next": "No roll call open — next opens at {time} ({shift})",
    "window.none": "No roll call open",
    "window.closed": "This roll call was closed at {time}",
    "counts.expected": "Expected",
    "counts.present": "Present",
    "counts.late": "Late",
    "counts.absent": "Absent",
    "counts.excused": "Excused",
    "counts.pending": "Not yet",
    "roster.title": "Roll call",
    "roster.empty": "Nobody is rostered on this shift",
    "status.pending": "Not yet",
    "status.present": "Present",
    "status.late": "Late",
    "status.absent": "Absent",
    "status.excused": "Excused",
    "flag.manual": "By leader",
    "flag.leader_late": "Under {n} min early",
    "duty.leader": "Duty leader",
    "flag.leader": "Leader",
    "seat": "Seat {seat}",
    "seat.none": "No fixed seat",
    "empno": "No. {no}",
    "notices.title": "Today's notices",
    "notices.none": "No notices today",
    "idle.title": "Tap your badge",
    "idle.sub": "Hold your badge to the reader until you hear the tone",
    "outcome.present": "到 · Present",
    "outcome.late": "到 · Late",
    "outcome.duplicate": "Already in",
    "outcome.refused": "Not accepted",
    "outcome.failed": "Not recorded",
    "reason.present": "You are checked in. File into the call area in order",
    "reason.late": "Checked in, recorded as late (shift started {start})",
    "reason.duplicate": "You are already checked in — no need to tap again",
    "reason.not_on_roster": "You are not on the roll call of this shift, {shift} — please see the duty leader",
    "reason.not_on_roster.on_shift": "You are on shift {on_shift} today, not on this one, {shift} — tap at your own shift's roll call",
    "reason.unknown_badge": "This badge is not registered — please see the duty leader",
    "reason.badge_lost": "This badge was reported lost and cannot be used — please see the duty leader",
    "reason.badge_revoked": "This badge has been cancelled and cannot be used — please see the duty leader",
    "reason.staff_left": "This badge's holder has left; the badge is no longer valid",
    "reason.outside_window": "Roll call is not open now",
    "reason.outside_window.next": "Roll call is not open now — the next one opens at {time}",
    "reason.outside_window.closed": "This roll call is already closed — ask the duty leader to record you",
    "reason.tap_failed": "Not recorded — tap again or tell the duty leader",
    "reason.invalid_uid": "The badge number could not be read — please tap again",
    "reason.leader_late": "The duty leader should tap at least {n} minutes before the shift starts (§3.1)",
    "leader.title": "Duty leader console",
    "leader.who": "{name} (No. {no})",
    "person": "{name} ({no})",
    "leader.mark.closed": "This roll call is closed; no more marks",
    "leader.idle": "Closes after {s} s without use",
    "leader.end": "Leave",
    "leader.mark.title": "Mark by hand",
    "leader.mark.pick": "Choose someone not yet in, then a reason",
    "leader.mark.none": "Everyone is in",
    "leader.cancel": "Cancel",
    "leader.confirm": "Confirm",
    "leader.note.placeholder": "Note (required for “Other leave”)",
    "reason.forgot": "Forgot badge (present)",
    "reason.leave": "Personal leave",
    "reason.sick": "Sick leave",
    "reason.other": "Other leave",
    "leader.marked": "Recorded: {name} — {status}",
    "leader.question.pick": "Pick someone",
    "leader.answer.well": "Answered well",
    "leader.answer.poor": "Not answered well",
    "leader.answer.saved": "Answer recorded",
    "leader.close.title": "Close roll call",
    "leader.close": "Close roll call",
    "leader.close.confirm": "Tap again to close roll call",
    "leader.closed": "Roll call closed, {n} absent",
    "leader.working": "Working…",
    "error.leader_required": "Tap your duty leader badge first",
    "error.rollcall_not_open": "No roll call is open now",
    "error.rollcall_closed": "This roll call is already closed",
    "error.not_on_roster": "This person is not on this shift's roster",
    "error.already_present": "This person is already checked in",
    "error.reason_required": "Give a reason",
    "error.bad_status": "Mark a person present or excused only",
    "error.nobody_present": "Nobody is present yet to ask",
    "error.no_question": "None of today's notices has a question",
    "error.no_such_question": "That question no longer exists",
    "error.timeout": "No answer from the server — please try again",
    "error.disconnected": "The connection is lost — try again shortly",
    "error.unknown": "Not done: {message}",
    "question.title": "Daily question",
    "question.who": "{name} (No. {no}), please answer:",
    "question.well": "Answer: good",
    "question.poor": "Answer: not good",
    "closed.title": "Roll call closed · Absentees",
    "closed.dismiss": "Dismiss",
    "closed.by": "Closed by {by} at {time}",
    "closed.auto": "Closed automatically at {time}",
    "closed.summary": "Present {present} · Late {late} · Excused {excused} · Absent {absent}",
    "closed.none": "Nobody is absent",
    "sim.title": "Simulated taps (demo)",
    "sim.uid.placeholder": "Badge UID (hex)",
    "sim.tap": "Tap",
    "sim.error": "Simulated tap failed: {message}",
    "sim.label.leader": "leader",
    "sim.label.lost": "lost",
    "sim.label.left": "has left",
    "sim.label.unknown": "Unknown badge",
    "sim.label.other_shift": "{shift}",
  },
};

let current = "zh-CN";
const listeners = [];

/** The language to start in: the one last chosen on this screen, else the configured one. */
export function initialLanguage(configured) {
  let stored = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch (_err) {
    stored = null; // storage may be disabled on a locked-down kiosk browser
  }
  if (LANGUAGES.includes(stored)) return stored;
  return LANGUAGES.includes(configured) ? configured : "zh-CN";
}

export function language() {
  return current;
}

/** Switch language, remember it on this screen, and re-render everything that listens. */
export function setLanguage(lang, { persist = true } = {}) {
  current = LANGUAGES.includes(lang) ? lang : "zh-CN";
  if (persist) {
    try {
      window.localStorage.setItem(STORAGE_KEY, current);
    } catch (_err) {
      /* not remembered; the toggle still works for this page */
    }
  }
  document.documentElement.lang = current;
  applyStatic(document);
  for (const fn of listeners) fn(current);
}

export function onLanguageChange(fn) {
  listeners.push(fn);
}

/** Look a key up in the current language, filling {name} placeholders; fall back to zh-CN, then the key. */
export function t(key, params = {}) {
  const text = DICT[current][key] ?? DICT["zh-CN"][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_m, name) => (params[name] ?? "").toString());
}

/** Fill every [data-i18n] element's text and [data-i18n-placeholder] input's placeholder. */
export function applyStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  document.title = t("app.title");
}
