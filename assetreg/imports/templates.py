"""The published import templates: per kind, its columns (Chinese header, accepted variants, meaning,
required or not, allowed values, example) and the Chinese values that map to codes. Data only."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ..assets.models import CATEGORIES, FUNDING_SOURCES, SUBTYPES
from ..assets.models import STATUSES as ASSET_STATUSES
from ..assets.rules import INITIAL_STATUSES
from ..households.models import LABOUR, MONITOR_TYPES
from ..households.models import STATUSES as HOUSEHOLD_STATUSES
from ..income.models import DEDUCTION_KINDS, INCOME_KINDS

INSTRUCTIONS_SHEET = "填写说明"


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # as published in the template
    meaning: str
    required: bool | str  # True, False, or the condition in Chinese
    allowed: str
    example: str
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # offered as a drop-down in the template
    text: bool = False  # formatted as text in the template (codes, ID and card numbers)
    width: int = 14
    max_len: int | None = None

    @property
    def must_have(self) -> bool:
        """The file must carry this column (its cells may still be conditional, e.g. per household)."""
        return self.required is True or self.required == "每户必填"

    @property
    def required_label(self) -> str:
        if self.required is True:
            return "必填"
        return self.required or "选填"


@dataclass(frozen=True)
class Kind:
    name: str
    title: str  # 资产台账 …: the data sheet's name and the file name
    record: str  # what one record is, for counts
    columns: tuple[Column, ...]
    layout: tuple[str, ...] = field(default_factory=tuple)  # notes printed above the instructions

    def __post_init__(self):
        object.__setattr__(self, "_by_field", {c.field: c for c in self.columns})

    def column(self, name: str) -> Column:
        return self._by_field[name]

    def has(self, name: str) -> bool:
        return name in self._by_field


def _labels(mapping: dict[str, str], keys=None) -> tuple[str, ...]:
    return tuple(mapping[k] for k in (keys if keys is not None else mapping))


_INITIAL = [k for k in ASSET_STATUSES if k in INITIAL_STATUSES]
_MONEY = "金额（元），最多两位小数，不能为负；可为数值或文本，如 12345.67 或 12,345.67"

ASSET_COLUMNS: tuple[Column, ...] = (
    Column("code", "资产编号", "资产在本县唯一的编号", True, "最长40字符", "QX-2020-PV-001",
           ("资产编码", "资产代码"), text=True, width=18, max_len=40),
    Column("name", "资产名称", "资产名称", True, "最长200字符", "桃源村村级光伏电站",
           ("名称",), width=24, max_len=200),
    Column("category", "资产类别", "经营性、公益性或到户类", True, "、".join(CATEGORIES.values()), "经营性",
           ("类别", "资产类型"), choices=_labels(CATEGORIES), width=10),
    Column("subtype", "资产子类", "资产的具体类型，须属于所填类别", True,
           "；".join(f"{CATEGORIES[c]}：{'、'.join(s)}" for c, s in SUBTYPES.items()), "光伏电站",
           ("子类", "资产小类", "资产细类"),
           choices=tuple(s for subs in SUBTYPES.values() for s in subs), width=14, max_len=40),
    Column("place_code", "所在区划代码", "资产所在村的12位统计用区划代码；跨村共享的资产填乡镇（9位）或县（6位）代码",
           True, "本县现有（未撤销）的区划代码，且在您的管辖范围内", "431299100201",
           ("村代码", "所在村代码", "区划代码", "行政区划代码", "所在地区划代码"), text=True, width=16, max_len=12),
    Column("managing_level", "管理层级", "资产由哪一级管理", True, "县、乡、村、户（到户类资产填“户”）", "村",
           ("管理主体层级", "管理级次"), choices=("县", "乡", "村", "户"), width=10),
    Column("project_name", "项目名称", "形成该资产的项目名称", False, "最长200字符", "2020年村级光伏扶贫项目",
           ("形成资产的项目名称", "项目"), width=24, max_len=200),
    Column("project_year", "项目年度", "项目实施年度", False, "1949至2100的整数", "2020",
           ("项目年份", "实施年度"), width=10),
    Column("project_approval_no", "项目批复文号", "项目批复文件的文号", False, "最长100字符", "青扶发〔2020〕12号",
           ("批复文号", "项目文号"), width=20, max_len=100),
    Column("completed_on", "竣工日期", "项目竣工（完工）日期", False, "日期，如 2020-06-30 或 2020年6月30日",
           "2020-06-30", ("完工日期", "竣工时间"), width=12),
    Column("original_value", "原值（元）", "资产原值；等于各资金来源之和", True, _MONEY, "500000.00",
           ("原值", "资产原值", "资产原值（元）"), width=14),
    *(Column(f"funding_{key}", f"{label}（元）", f"资金来源：{label}", False,
             _MONEY + "；各来源合计须等于原值，不涉及的留空", "500000.00" if key == "fiscal_link" else "",
             (label,) + (("其他资金",) if key == "other" else ()), width=14)
      for key, label in FUNDING_SOURCES.items()),
    Column("quantity", "数量", "资产数量", False, "数值，最多三位小数", "1", (), width=8),
    Column("unit", "计量单位", "数量的单位", False, "最长20字符", "座", ("单位",), width=8, max_len=20),
    Column("useful_life_years", "使用年限（年）", "计提折旧的使用年限；不填时按县里设定的子类年限", False,
           "1至100的整数", "20", ("使用年限", "折旧年限"), width=10),
    Column("status", "资产状态", "登记时的状态；不填为在建", False, "、".join(_labels(ASSET_STATUSES, _INITIAL))
           + "（经营性资产投入使用填“运营中”，公益性和到户类填“使用中”）", "运营中",
           ("状态",), choices=_labels(ASSET_STATUSES, _INITIAL), width=10),
    Column("status_on", "状态日期", "进入该状态的日期；不填取竣工日期，都不填取当天", False,
           "日期，不晚于今天", "2020-09-01", ("状态变更日期",), width=12),
    Column("household_number", "农户户编号", "到户类资产所属农户的户编号（须已在系统中登记）", "到户类必填",
           "本县已登记农户的户编号；非到户类资产不填", "", ("户编号",), text=True, width=18, max_len=40),
    Column("note", "备注", "备注", False, "最长1000字符", "", ("说明",), width=20, max_len=1000),
)

HOUSEHOLD_COLUMNS: tuple[Column, ...] = (
    Column("village_code", "村代码", "农户所在村的12位统计用区划代码", "每户必填",
           "本县现有（未撤销）的村，且在您的管辖范围内", "431299100201",
           ("所在村代码", "行政村代码", "区划代码", "村级区划代码"), text=True, width=16, max_len=12),
    Column("number", "户编号", "全国防返贫监测信息系统的户编号，本县唯一；同一户的每一行都要填", True, "最长40字符",
           "4312991002010001", ("农户编号", "户码"), text=True, width=20, max_len=40),
    Column("head_name", "户主姓名", "户主姓名", "每户必填", "最长64字符", "张三", ("户主",), width=10, max_len=64),
    Column("head_id_number", "户主身份证号", "户主的居民身份证号", "每户必填", "18位，校验位正确（末位可为X）",
           "431299XXXXXXXXXXXX", ("户主身份证号码", "身份证号码", "户主身份证"), text=True, width=20, max_len=18),
    Column("phone", "联系电话", "联系电话", False, "11位手机号或固定电话", "138XXXXXXXX",
           ("电话", "手机号", "手机号码", "联系方式"), text=True, width=14, max_len=20),
    Column("status", "农户类别", "脱贫户、监测户或一般户", "每户必填", "、".join(HOUSEHOLD_STATUSES.values()), "脱贫户",
           ("户类别", "户类型", "农户属性", "户属性"), choices=_labels(HOUSEHOLD_STATUSES), width=10),
    Column("monitor_type", "监测类型", "监测户的监测类型", "监测户必填", "、".join(MONITOR_TYPES.values()), "",
           ("监测对象类型", "监测户类型"), choices=_labels(MONITOR_TYPES), width=14),
    Column("is_risk_cleared", "风险是否消除", "监测户的返贫致贫风险是否已消除", False, "是、否；只有监测户填写", "",
           ("风险消除", "是否风险消除"), choices=("是", "否"), width=10),
    Column("risk_cleared_on", "风险消除日期", "风险消除的日期", "风险已消除的监测户必填", "日期，不晚于今天", "",
           ("消除日期",), width=12),
    Column("bank_card", "银行卡号（一卡通）", "惠民惠农一卡通账号", False, "12至19位数字", "",
           ("银行卡号", "一卡通账号", "一卡通卡号", "惠农一卡通"), text=True, width=22, max_len=32),
    Column("member_name", "成员姓名", "家庭成员姓名（户主本人也占一行）", True, "最长64字符", "张三",
           ("姓名", "家庭成员姓名"), width=10, max_len=64),
    Column("relation", "与户主关系", "该成员与户主的关系；每户有且只有一名“户主”", True, "如 户主、配偶、子女、父母",
           "户主", ("关系",), width=10, max_len=20),
    Column("member_id_number", "成员身份证号", "该成员的居民身份证号；户主行可留空（取户主身份证号）", False,
           "18位，校验位正确", "431299XXXXXXXXXXXX", ("成员身份证号码", "家庭成员身份证号"), text=True, width=20,
           max_len=18),
    Column("labour", "劳动能力", "该成员的劳动能力", True, "、".join(LABOUR.values())
           + "（也可填 普通劳动力、技能劳动力、弱劳动力或半劳动力、丧失劳动力）", "有劳动力",
           ("劳动力状况", "劳动技能"), choices=_labels(LABOUR), width=10),
)

INCOME_COLUMNS: tuple[Column, ...] = (
    Column("asset_code", "资产编号", "产生收益的资产编号（须已登记）", True, "本县已登记、在您管辖范围内的资产", "QX-2020-PV-001",
           ("资产编码", "资产代码"), text=True, width=18, max_len=40),
    Column("direction", "收支方向", "收入或支出（扣除）", True, "收入、支出", "收入",
           ("方向", "收支", "收支类型"), choices=("收入", "支出"), width=8),
    Column("kind", "收支类别", "收入或支出的类别", True,
           "收入：" + "、".join(INCOME_KINDS.values()) + "；支出：" + "、".join(DEDUCTION_KINDS.values()), "电费收入",
           ("类别", "收入类别", "支出类别", "科目"),
           choices=tuple(dict.fromkeys((*INCOME_KINDS.values(), *DEDUCTION_KINDS.values()))), width=12),
    Column("period_year", "所属年度", "收益所属年度（光伏补贴常在次年到账，仍填所属年度）", True, "2000至2100的整数", "2024",
           ("年度", "所属年份", "收益年度"), width=8),
    Column("period_month", "所属月份", "收益所属月份", False, "1至12；与所属季度只填其一，都不填表示全年", "6",
           ("月份",), width=8),
    Column("period_quarter", "所属季度", "收益所属季度", False, "1至4（也可填 第一季度 等）；与所属月份只填其一", "",
           ("季度",), width=8),
    Column("received_on", "收付日期", "款项实际收到或付出的日期", True, "日期，不晚于今天", "2024-07-15",
           ("到账日期", "收款日期", "付款日期", "收付款日期", "日期"), width=12),
    Column("amount", "金额（元）", "金额，正数；收支方向由“收支方向”决定", True, _MONEY.replace("不能为负", "须大于零"),
           "3250.40", ("金额",), width=14),
    Column("payer", "对方单位", "付款方（收入）或收款方（支出）", False, "最长200字符", "国网某县供电公司",
           ("付款方", "付款单位", "交款单位", "收款方", "收款单位"), width=22, max_len=200),
    Column("voucher_no", "凭证号", "记账凭证号；用于识别重复导入", True, "最长64字符", "记-2024-07-015",
           ("凭证编号", "记账凭证号", "凭证字号"), text=True, width=16, max_len=64),
    Column("note", "备注", "备注", False, "最长500字符", "", ("说明",), width=20, max_len=500),
)

KINDS: dict[str, Kind] = {
    "assets": Kind("assets", "资产台账", "项资产", ASSET_COLUMNS, (
        "每行一项资产。资产编号在本县唯一；重复导入同一文件不会重复登记（内容相同的行计为“未变”）。",
        "已登记的资产再次导入时内容须完全相同，否则报“已存在且内容不同”；修改请在系统中进行。",
        "各资金来源金额之和须等于原值，不涉及的来源留空。",
    )),
    "households": Kind("households", "农户", "户", HOUSEHOLD_COLUMNS, (
        "每行一名家庭成员（户主本人也占一行），同一户的各行填相同的户编号，不必相邻。",
        "户级信息（村代码、户主姓名、户主身份证号、联系电话、农户类别、监测类型、风险消除、一卡通）填在该户的第一行即可；"
        "其余行可留空，也可重复填写，但须一致。户主行的成员身份证号可留空（取户主身份证号）。",
        "身份证号、银行卡号请设为文本格式，否则 Excel 只保留15位有效数字。",
    )),
    "income": Kind("income", "收益台账", "笔", INCOME_COLUMNS, (
        "每行一笔收入或支出。同一资产、所属期间、类别、凭证号和金额相同的记录只登记一次，重复导入计为“未变”。",
        "已清算年度的收支不能导入，请在系统中以调整记录登记。到户类资产的收益归农户，不记入村集体收益台账。",
    )),
}

# --- Chinese values → codes ------------------------------------------------------------------

YES = {"是", "已消除", "y", "yes", "true", "1", "√"}
NO = {"否", "未消除", "n", "no", "false", "0", "×"}


def _invert(mapping: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {label: code for code, label in mapping.items()}
    out.update({code: code for code in mapping})  # machine-made files may carry the codes themselves
    out.update(extra or {})
    return out


CATEGORY_VALUES = _invert(CATEGORIES, {"经营性资产": "operating", "公益性资产": "public_welfare",
                                       "到户类资产": "household", "到户资产": "household", "到户": "household"})
ASSET_STATUS_VALUES = _invert(ASSET_STATUSES, {"运营": "in_operation", "使用": "in_use", "已移交": "handed_over"})
MANAGING_LEVEL_VALUES = {"县": "county", "县级": "county", "乡": "town", "乡镇": "town", "镇": "town", "乡级": "town",
                         "乡镇级": "town", "村": "village", "村级": "village", "户": "household", "农户": "household",
                         "county": "county", "town": "town", "village": "village", "household": "household"}
HOUSEHOLD_STATUS_VALUES = _invert(HOUSEHOLD_STATUSES, {"监测对象": "monitored", "一般农户": "ordinary",
                                                       "脱贫人口": "formerly_poor"})
MONITOR_TYPE_VALUES = _invert(MONITOR_TYPES)
# The national monitoring system's labour-skill values map onto the registry's four.
LABOUR_VALUES = _invert(LABOUR, {"普通劳动力": "full", "技能劳动力": "full", "弱劳动力或半劳动力": "weak",
                                 "丧失劳动力": "none"})
DIRECTION_VALUES = {"收入": "income", "支出": "deduction", "扣除": "deduction", "income": "income",
                    "deduction": "deduction"}
KIND_VALUES = {"income": _invert(INCOME_KINDS, {"电费": "electricity", "分红": "dividend", "保底收益": "dividend"}),
               "deduction": _invert(DEDUCTION_KINDS)}

# --- header matching -------------------------------------------------------------------------

_PAREN = re.compile(r"\([^()]*\)$")


def normalise_header(text: str) -> str:
    """Compare headers loosely: full-width forms folded, spaces, required marks and trailing
    parentheses (units such as （元）) dropped. 原值（元） and ' 原值 *' both become 原值."""
    s = unicodedata.normalize("NFKC", str(text or "")).strip()
    s = re.sub(r"\s+", "", s).rstrip("*").lstrip("*")
    while True:
        stripped = _PAREN.sub("", s)
        if stripped == s or not stripped:
            break
        s = stripped
    return s


def header_index(kind: Kind) -> dict[str, str]:
    """Normalised header or variant → field."""
    out: dict[str, str] = {}
    for col in kind.columns:
        for name in (col.header, *col.aliases):
            out.setdefault(normalise_header(name), col.field)
    return out
