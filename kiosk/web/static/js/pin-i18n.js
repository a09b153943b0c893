// The words of badge + PIN at the kiosk (the PIN pad, the console's PIN state, the refusals about PINs),
// zh-CN first and English. Merged into i18n.js's DICT when this module loads (as floor-i18n.js is), so
// the kiosk page and the floor map both have them.

import { DICT } from "./i18n.js";

export const PIN_DICT = {
  "zh-CN": {
    "pin.title": "请输入 PIN",
    "pin.who": "{name}（工号 {no}）",
    "pin.why": "刷卡只能确认告警；其他操作需再输入 4–6 位 PIN",
    "pin.clear": "清除",
    "pin.ok": "确定",
    "pin.cancel": "取消",
    "pin.close": "关闭",
    "pin.dots": "已输入 {n} 位",
    "pin.checking": "正在核对…",
    "pin.wrong": "PIN 不正确，还可尝试 {n} 次",
    "pin.format": "PIN 为 4–6 位数字",
    "pin.locked": "PIN 错误次数过多，已退出。告警已发出；请重新刷卡。",
    "pin.ended": "已退出，请重新刷卡",
    "pin.demo": "演示 PIN：{pin}",
    "pin.state.verified": "已验证 PIN",
    "pin.state.badge": "仅刷卡：可确认告警",
    "pin.enter": "输入 PIN",
    "error.pin_required": "请输入 PIN 后再操作",
    "error.pin_not_set": "您尚未设置 PIN，刷卡只能确认告警。请管理员设置 PIN（kiosk staff set-pin）。",
    "error.pin_cancelled": "未输入 PIN，操作未完成",
    "error.pin_locked": "PIN 错误次数过多，已退出；请重新刷卡",
    "error.pin_blocked": "PIN 多次输错已被锁定，刷卡只能确认告警。请管理员重新设置 PIN（kiosk staff set-pin）。",
    "error.pin_wrong": "PIN 不正确",
    "error.pin_format": "PIN 为 4–6 位数字",
    "floor.error.pin_required": "请输入 PIN 后再操作",
    "floor.error.pin_not_set": "您尚未设置 PIN，只能确认事项；请管理员设置 PIN（kiosk staff set-pin）",
    "floor.error.pin_cancelled": "未输入 PIN，签出原因未登记",
    "floor.error.pin_locked": "PIN 错误次数过多，已退出；请在点名屏幕重新刷卡",
    "floor.error.pin_blocked": "PIN 多次输错已被锁定；请管理员重新设置 PIN（kiosk staff set-pin）",
    "vconsole.pin": "输入 PIN 后可查看今日访客并发放访客卡",
    "alert.kind.leader_pin_locked_out": "班长 PIN 多次输错",
  },
  en: {
    "pin.title": "Enter your PIN",
    "pin.who": "{name} (No. {no})",
    "pin.why": "A badge alone acknowledges alerts; anything else needs your 4–6 digit PIN",
    "pin.clear": "Clear",
    "pin.ok": "OK",
    "pin.cancel": "Cancel",
    "pin.close": "Close",
    "pin.dots": "{n} digits entered",
    "pin.checking": "Checking…",
    "pin.wrong": "Wrong PIN: {n} tries left",
    "pin.format": "A PIN is 4 to 6 digits",
    "pin.locked": "Too many wrong PINs: signed out and an alert raised. Tap your badge again.",
    "pin.ended": "Signed out: tap your badge again",
    "pin.demo": "Demo PIN: {pin}",
    "pin.state.verified": "PIN entered",
    "pin.state.badge": "Badge only: alerts",
    "pin.enter": "Enter PIN",
    "error.pin_required": "Enter your PIN first",
    "error.pin_not_set": "You have no PIN: a badge alone only acknowledges alerts. An administrator must set one (kiosk staff set-pin).",
    "error.pin_cancelled": "No PIN entered: not done",
    "error.pin_locked": "Too many wrong PINs: signed out; tap your badge again",
    "error.pin_blocked": "This PIN is blocked after repeated wrong entries: a badge alone only acknowledges alerts. An administrator must set a new one (kiosk staff set-pin).",
    "error.pin_wrong": "Wrong PIN",
    "error.pin_format": "A PIN is 4 to 6 digits",
    "floor.error.pin_required": "Enter your PIN first",
    "floor.error.pin_not_set": "You have no PIN, so you can only acknowledge flags; an administrator must set one (kiosk staff set-pin)",
    "floor.error.pin_cancelled": "No PIN entered: the sign-out cause was not recorded",
    "floor.error.pin_locked": "Too many wrong PINs: signed out; tap your badge again at the roll call screen",
    "floor.error.pin_blocked": "This PIN is blocked after repeated wrong entries; an administrator must set a new one (kiosk staff set-pin)",
    "vconsole.pin": "Enter your PIN to see today's visitors and hand out visitor cards",
    "alert.kind.leader_pin_locked_out": "Leader PIN entered wrong too often",
  },
};

for (const [lang, words] of Object.entries(PIN_DICT)) {
  DICT[lang] = DICT[lang] || {};
  for (const [key, text] of Object.entries(words)) {
    if (!(key in DICT[lang])) DICT[lang][key] = text;
  }
}
