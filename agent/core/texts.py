"""What the customer display says, per language, and the GB18030 codes of every glyph it uses.

MicroPython's str.encode knows UTF-8 only, so the display's GB18030 bytes come from the
hand table below, which holds exactly the glyphs of these texts (checked by the tests
against CPython's codec).
"""

# Per language: "pts" heads line 1 of a points-only status, "earned"/"lost" wrap the signed
# points of this record; "pts_short", "bal", "low" and "cpn" label a stored-value status.
TEXTS = {
    "en": {"pts": "Points:", "earned": "%s earned", "lost": "%s points", "new": "New member",
           "offline": "OFFLINE, cached", "lic": "ACQUIRER CHECK!",
           "pts_short": "Pts ", "bal": "Bal ", "low": "LOW", "cpn": "Cpn "},
    "zh-CN": {"pts": "积分:", "earned": "本次%s", "lost": "本次%s", "new": "新会员",
              "offline": "离线 缓存", "lic": "收单机构异常",
              "pts_short": "积分", "bal": "余额", "low": "偏低", "cpn": "券"},
}

TIERS = {
    "en": {"basic": "BASIC", "silver": "SILVER", "gold": "GOLD", "vip": "VIP"},
    "zh-CN": {"basic": "普通", "silver": "银卡", "gold": "金卡", "vip": "VIP"},
}

# Separator between the left text and the right value of line 1 and line 2 of a
# points-only status; None right-aligns the value at column 20.
LAYOUT = {"en": (None, None), "zh-CN": ("", "  ")}

# Units for numbers too wide for their field, smallest first (values are truncated toward zero).
UNITS = {
    "en": ((10 ** 3, "K"), (10 ** 6, "M"), (10 ** 9, "B"), (10 ** 12, "T")),
    "zh-CN": ((10 ** 4, "万"), (10 ** 8, "亿")),
}

MESSAGES = {
    "en": {"welcome": ("Welcome", ""), "stored": ("Sale stored", ""),
           "card_error": ("Card read error", ""), "outbox_full": ("STORE FULL-CALL IT", ""),
           "offline": ("Network offline", ""), "thanks": ("Thank you", ""),
           "sv_offline": ("Approved offline", ""), "declined": ("Declined", "Pay another way")},
    "zh-CN": {"welcome": ("欢迎光临", ""), "stored": ("交易已保存", ""),
              "card_error": ("读卡失败 请重刷", ""), "outbox_full": ("存储已满 请联系技术", ""),
              "offline": ("网络离线", ""), "thanks": ("谢谢惠顾", ""),
              "sv_offline": ("离线支付成功", ""), "declined": ("交易拒绝", "请用其他方式支付")},
}

# Answers to an authorisation: line 1 of an approval and of a decline; "short" heads a
# decline for want of balance (money) or points; CODES gives line 2 of other declines.
AUTHR = {
    "en": {"ok": "Approved", "no": "Declined", "short_money": "Insufficient funds",
           "short_points": "Not enough points"},
    "zh-CN": {"ok": "交易成功", "no": "交易拒绝", "short_money": "余额不足", "short_points": "积分不足"},
}
CODES = {
    "en": {"FROZEN": "Card frozen", "BAD_PIN": "Wrong PIN", "LOCKED": "PIN locked", "UNKNOWN_CARD": "Not a member card",
           "PIN_REQUIRED": "PIN required", "WRONG_CURRENCY": "Wrong currency"},
    "zh-CN": {"FROZEN": "卡已冻结", "BAD_PIN": "密码错误", "LOCKED": "密码已锁定", "UNKNOWN_CARD": "非会员卡",
              "PIN_REQUIRED": "请输入密码", "WRONG_CURRENCY": "币种不符"},
}

# The terminal's coupon check (POS op "coupon"): line 1 per outcome ("no" for one this table does
# not know); line 2 of a valid coupon is its face ("off" wraps the amount or percentage, "gift"),
# of an unknown code "check", of an unanswered check "offline".
COUPON = {
    "en": {"VALID": "Coupon valid", "USED": "Coupon used", "EXPIRED": "Coupon expired", "VOID": "Coupon void",
           "UNKNOWN": "Coupon unknown", "NOT_YET_VALID": "Coupon not yet valid", "NOT_YOURS": "Not this card's",
           "CARD_NEEDED": "Swipe card first", "OFFLINE": "Coupon not checked", "no": "Coupon refused",
           "off": "%s off", "gift": "Gift", "check": "Check the code", "offline": "Network offline"},
    "zh-CN": {"VALID": "优惠券有效", "USED": "优惠券已使用", "EXPIRED": "优惠券已过期", "VOID": "优惠券已作废",
              "UNKNOWN": "优惠券无效", "NOT_YET_VALID": "优惠券未生效", "NOT_YOURS": "非本卡优惠券",
              "CARD_NEEDED": "请先刷会员卡", "OFFLINE": "优惠券未验证", "no": "优惠券不可用",
              "off": "立减%s", "gift": "赠品", "check": "请核对券号", "offline": "网络离线"},
}

# Glyph -> its two-byte GB18030 code.
GB18030 = {
    "万": 0xCDF2, "不": 0xB2BB, "临": 0xC1D9, "交": 0xBDBB, "亿": 0xD2DA, "他": 0xCBFB, "付": 0xB8B6, "优": 0xD3C5,
    "会": 0xBBE1, "低": 0xB5CD, "余": 0xD3E0, "作": 0xD7F7, "使": 0xCAB9, "保": 0xB1A3, "偏": 0xC6AB, "储": 0xB4A2,
    "先": 0xCFC8, "光": 0xB9E2, "入": 0xC8EB, "其": 0xC6E4, "冻": 0xB6B3, "减": 0xBCF5, "分": 0xB7D6, "刷": 0xCBA2,
    "券": 0xC8AF, "功": 0xB9A6, "单": 0xB5A5, "卡": 0xBFA8, "可": 0xBFC9, "号": 0xBAC5, "员": 0xD4B1, "品": 0xC6B7,
    "失": 0xCAA7, "存": 0xB4E6, "定": 0xB6A8, "密": 0xC3DC, "对": 0xB6D4, "已": 0xD2D1, "币": 0xB1D2, "常": 0xB3A3,
    "废": 0xB7CF, "异": 0xD2EC, "式": 0xCABD, "惠": 0xBBDD, "成": 0xB3C9, "技": 0xBCBC, "拒": 0xBEDC, "支": 0xD6A7,
    "收": 0xCAD5, "效": 0xD0A7, "新": 0xD0C2, "方": 0xB7BD, "无": 0xCEDE, "易": 0xD2D7, "普": 0xC6D5, "有": 0xD3D0,
    "期": 0xC6DA, "未": 0xCEB4, "本": 0xB1BE, "术": 0xCAF5, "机": 0xBBFA, "构": 0xB9B9, "核": 0xBACB, "次": 0xB4CE,
    "欢": 0xBBB6, "满": 0xC2FA, "生": 0xC9FA, "用": 0xD3C3, "码": 0xC2EB, "离": 0xC0EB, "种": 0xD6D6, "积": 0xBBFD,
    "立": 0xC1A2, "符": 0xB7FB, "系": 0xCFB5, "线": 0xCFDF, "结": 0xBDE1, "络": 0xC2E7, "绝": 0xBEF8, "缓": 0xBBBA,
    "网": 0xCDF8, "联": 0xC1AA, "证": 0xD6A4, "误": 0xCEF3, "请": 0xC7EB, "读": 0xB6C1, "谢": 0xD0BB, "败": 0xB0DC,
    "赠": 0xD4F9, "足": 0xD7E3, "输": 0xCAE4, "过": 0xB9FD, "迎": 0xD3AD, "通": 0xCDA8, "重": 0xD6D8, "金": 0xBDF0,
    "银": 0xD2F8, "锁": 0xCBF8, "错": 0xB4ED, "非": 0xB7C7, "顾": 0xB9CB, "额": 0xB6EE, "验": 0xD1E9,
}
