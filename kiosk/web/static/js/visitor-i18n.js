// The visitors' words (§2.2, §6.6), zh-CN first (the floor's language) and English: the visitors-inside
// panel, the leader console's visitor card section, visitor taps on the tap card and the demo panel's
// reader selector. A dictionary of its own, merged into i18n.js's DICT when this module loads, so t() and
// data-i18n work for these keys. Terms follow the rules' word table: 访客 visitor, 陪同 escort, 审批
// approval, 热线管理科 Hotline Management Section, 刷卡 tap.

import { DICT } from "./i18n.js";

export const VISITOR_DICT = {
  "zh-CN": {
    "visitors.title": "在场访客",
    "visitors.count": "{n} 人",
    "visitors.host": "接待 {host}",
    "visitors.since": "{time} 进入",
    "visitors.until": "审批至 {time}",
    "visitors.overstayed": "已超时，请送访客离开并签退",
    "visitors.cancelled": "审批已取消",
    "visitors.escort": "须陪同",
    "visitors.purpose.consult": "咨询",
    "visitors.purpose.visit": "访问",
    "visitors.purpose.photograph": "拍照",
    "visitors.purpose.record": "录音",

    "vconsole.title": "访客登记",
    "vconsole.hint": "选择访客 → 核对证件尾号 → 绑定访客卡",
    "vconsole.loading": "正在载入访客审批…",
    "vconsole.none": "今天没有有效的访客审批（由热线管理科审批）",
    "vconsole.window": "{from}–{until}",
    "vconsole.upcoming": "未到时间",
    "vconsole.card": "已发卡 {tail}",
    "vconsole.inside": "在场",
    "vconsole.id_tail": "证件尾号 {tail}",
    "vconsole.check": "请核对 {name} 的证件尾号：{tail}",
    "vconsole.bind": "绑定访客卡",
    "vconsole.rebind": "换发新卡",
    "vconsole.waiting": "请在读卡器上刷访客卡",
    "vconsole.waiting.left": "{name} · 还剩 {s} 秒",
    "vconsole.bound": "已绑定：{name} 的访客卡 {tail}",
    "vconsole.refused": "未能绑定访客卡：{name} 的审批已结束或已取消，请联系热线管理科",
    "vconsole.expired": "30 秒内没有刷访客卡，已停止等待。请重新选择访客。",
    "vconsole.error": "未能开始绑定：{message}",
    "error.approval_not_valid": "这份审批已结束或已取消，不能发卡，请联系热线管理科",
    "error.no_such_approval": "找不到这份访客审批",
    "error.bad_approval": "请选择访客审批",

    "vtap.bound": "访客卡已绑定",
    "vtap.bound.reason": "审批时间 {from}–{until}，进出话务区请在门禁刷此卡",
    "vtap.bound.escort": "此访客须有人陪同：陪同人员先刷卡（§6.6）",
    "vtap.signed_out": "访客已签退",
    "vtap.signed_out.reason": "访客 {name} 已签退，请收回访客卡",
    "vtap.refused": "访客卡未绑定",
    "vtap.refused.reason": "{name} 的审批已结束或已取消，这张卡没有绑定（§2.2）",
    "vtap.meta": "访客卡 {tail}",
    "vdoor.granted": "访客 {name} 已获审批，准许进入；进门后随手关门（§2.2、§6.5）",
    "vdoor.outside_window": "访客审批时间为 {from}–{until}，现在不能进入（§2.2）；已通知值班班长",
    "vdoor.no_approval": "此访客卡的审批已取消，不能进入（§2.2）；已通知值班班长",
    "vdoor.needs_escort": "访客须有人陪同：接待人或班长、主管、保卫先在此门刷卡，30 秒内访客再刷卡（§6.6）",

    "sim.visitors": "访客卡（演示）",
    "sim.reader": "刷卡位置：",
    "sim.reader.kiosk": "点名机",
    "sim.reader.door": "门禁 {reader}",
    "sim.label.visitor": "访客卡 {n}",
    "sim.label.visitor_ended": "过期",
  },
  en: {
    "visitors.title": "Visitors inside",
    "visitors.count": "{n}",
    "visitors.host": "Host {host}",
    "visitors.since": "in since {time}",
    "visitors.until": "approved until {time}",
    "visitors.overstayed": "Overstayed — see them out and sign the card out",
    "visitors.cancelled": "Approval cancelled",
    "visitors.escort": "Escort",
    "visitors.purpose.consult": "Consult",
    "visitors.purpose.visit": "Visit",
    "visitors.purpose.photograph": "Photograph",
    "visitors.purpose.record": "Record",

    "vconsole.title": "Visitor card",
    "vconsole.hint": "Pick the visitor → check their ID's last 4 characters → bind a card",
    "vconsole.loading": "Loading visitor approvals…",
    "vconsole.none": "No valid visitor approvals today (the Hotline Management Section approves visits)",
    "vconsole.window": "{from}–{until}",
    "vconsole.upcoming": "Not yet",
    "vconsole.card": "Card {tail} issued",
    "vconsole.inside": "Inside",
    "vconsole.id_tail": "ID ends {tail}",
    "vconsole.check": "Check that {name}'s ID document ends in {tail}",
    "vconsole.bind": "Bind card",
    "vconsole.rebind": "Replace card",
    "vconsole.waiting": "Tap the visitor card on the reader",
    "vconsole.waiting.left": "{name} · {s} s left",
    "vconsole.bound": "Bound: {name}'s visitor card {tail}",
    "vconsole.refused": "Card not bound: {name}'s approval has ended or was cancelled — ask the Hotline Management Section",
    "vconsole.expired": "No visitor card was tapped within 30 s; the kiosk stopped waiting. Pick the visitor again.",
    "vconsole.error": "Could not start binding: {message}",
    "error.approval_not_valid": "This approval has ended or was cancelled: no card can be bound — ask the Hotline Management Section",
    "error.no_such_approval": "This visitor approval does not exist",
    "error.bad_approval": "Choose a visitor approval",

    "vtap.bound": "Visitor card bound",
    "vtap.bound.reason": "Approved {from}–{until}; tap this card at the door to enter",
    "vtap.bound.escort": "This visitor enters only with an escort, who taps first (§6.6)",
    "vtap.signed_out": "Visitor signed out",
    "vtap.signed_out.reason": "Visitor {name} signed out; please collect the card",
    "vtap.refused": "Card not bound",
    "vtap.refused.reason": "{name}'s approval has ended or was cancelled; this card was not bound (§2.2)",
    "vtap.meta": "Visitor card {tail}",
    "vdoor.granted": "Visitor {name} is approved: come in, and close the door behind you (§2.2, §6.5)",
    "vdoor.outside_window": "The visit is approved for {from}–{until} only: no entry now (§2.2); the duty leader has been alerted",
    "vdoor.no_approval": "This visitor card's approval was cancelled: no entry (§2.2); the duty leader has been alerted",
    "vdoor.needs_escort": "A visitor needs an escort: the host or a leader, supervisor or security officer taps this door first, then the visitor within 30 s (§6.6)",

    "sim.visitors": "Visitor cards (demo)",
    "sim.reader": "Tap at:",
    "sim.reader.kiosk": "Kiosk",
    "sim.reader.door": "{reader}",
    "sim.label.visitor": "Visitor {n}",
    "sim.label.visitor_ended": "ended",
  },
};

// Merge without overwriting: the kiosk's own keys always win.
for (const [lang, words] of Object.entries(VISITOR_DICT)) {
  DICT[lang] = DICT[lang] || {};
  for (const [key, text] of Object.entries(words)) {
    if (!(key in DICT[lang])) DICT[lang][key] = text;
  }
}
