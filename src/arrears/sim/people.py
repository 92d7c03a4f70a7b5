"""Borrowers: who they are (profile), where they live, what they earn, and their willingness.

Drawn once, vectorised. Regions are real GB/T 2260 county-level codes (``data/regions.csv``,
weighted by resident population); the 18-character ID numbers carry the region code, the birth
date and a valid GB 11643 check digit, but the order code is the borrower's index, so they are
synthetic (any match with a real person's number is chance). E-mail addresses are on the
reserved ``example.*`` domains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.sim.config import SEGMENTS, SimConfig
from arrears.sim.rng import Stream, stream

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
            "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史")
GIVEN = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红玉文斌辉鹏宇浩俊峰波飞鑫"
         "欣怡佳琪晨晓雪颖婷倩雯梦琳子涵思博轩然楠")
STREETS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "文化路",
           "长江路", "黄河路", "朝阳路", "光明路", "幸福路", "友谊路", "青年路", "东风路")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180",
                   "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199")
_W = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Regions:
    code: npt.NDArray[np.str_]
    province: npt.NDArray[np.str_]
    city: npt.NDArray[np.str_]
    district: npt.NDArray[np.str_]
    weight: Floats


def load_regions() -> Regions:
    """The shipped table of real division codes (GB/T 2260) with population weights."""
    with resources.files("arrears.sim").joinpath("data/regions.csv").open("rb") as f:
        df = pl.read_csv(f, schema_overrides={"code": pl.String})
    w = df["population_10k"].to_numpy().astype(np.float64)
    col = {c: df[c].to_numpy().astype(str) for c in ("code", "province", "city", "district")}
    return Regions(col["code"], col["province"], col["city"], col["district"], w / w.sum())


@dataclass(frozen=True, slots=True)
class Borrowers:
    """One row per borrower, arrays in borrower order (index = borrower number − 1)."""

    n: int
    segment: Ints  # index into SEGMENTS
    region: Ints  # index into Regions
    female: Bools
    birth: Ints  # days since 1970-01-01
    income_band: Ints  # index into population.income_bands
    income: Ints  # monthly, yuan
    employer: Ints  # index into population.employers
    tenure_months: Ints
    device: Ints  # index into population.devices


def where(mask: Bools, values: pl.Series | npt.NDArray[np.generic]) -> pl.Series:
    """``values`` where ``mask`` holds, null elsewhere."""
    v = values if isinstance(values, pl.Series) else pl.Series(values)
    nulls = pl.repeat(None, len(v), dtype=v.dtype, eager=True)
    return v.zip_with(pl.Series(np.asarray(mask, dtype=np.bool_)), nulls)


def _pick(rng: np.random.Generator, weights: list[float], n: int) -> Ints:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def draw_borrowers(cfg: SimConfig, n: int, start: date, seed: int,
                   regions: Regions) -> Borrowers:
    """``n`` borrowers as of ``start`` (ages are measured there)."""
    pop = cfg.population
    seg = _pick(stream(seed, Stream.SEGMENTS), [cfg.segments[s].share for s in SEGMENTS], n)
    rng = stream(seed, Stream.PEOPLE)
    region = rng.choice(len(regions.weight), size=n, p=regions.weight).astype(np.int64)
    female = rng.random(n) < pop.female_share
    lo, hi = pop.age
    age = np.clip(rng.normal(pop.age_mean, pop.age_sd, n), lo, hi + 0.999)
    birth = ((start - _EPOCH).days - (age * 365.25).astype(np.int64)).astype(np.int64)
    band = _pick(rng, [b.weight for b in pop.income_bands], n)
    shift = np.array([cfg.segments[s].income_shift for s in SEGMENTS], dtype=np.int64)[seg]
    band = np.clip(band + shift, 0, len(pop.income_bands) - 1)
    low = np.array([b.low for b in pop.income_bands], dtype=np.int64)[band]
    high = np.array([b.high for b in pop.income_bands], dtype=np.int64)[band]
    income = low + (rng.random(n) * (high - low)).astype(np.int64)
    employers = list(pop.employers.values())
    employer = _pick(rng, [e.weight for e in employers], n)
    gig = np.array([k == "gig" for k in pop.employers])[employer]
    tenure = np.maximum(1, rng.gamma(1.5, np.where(gig, 10.0, 30.0))).astype(np.int64)
    device = _pick(rng, list(pop.devices.values()), n)
    return Borrowers(n, seg, region, female, birth, band, income, employer, tenure, device)


def id_numbers(region_codes: npt.NDArray[np.str_], birth: Ints, order: Ints,
               female: Bools) -> pl.Series:
    """18-character resident IDs (GB 11643) with their check digits, vectorised."""
    seq = order % 500 * 2 + np.where(female, 0, 1)  # odd order code = male
    ymd = pl.Series(birth.astype("datetime64[D]")).dt.strftime("%Y%m%d").to_numpy().astype(str)
    body = np.char.add(np.char.add(region_codes.astype(str), ymd),
                       np.char.zfill(seq.astype(str), 3))
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(-1, 17)
    total = ((digits.astype(np.int64) - 48) * _W).sum(axis=1)
    check = np.array(list("10X98765432"))[total % 11]
    return pl.Series("id_number", np.char.add(body, check))


def names(rng: np.random.Generator, n: int) -> pl.Series:
    # the commonest surnames are far commoner: weight by rank
    s = np.array(list(SURNAMES))
    sw = 1.0 / np.arange(1, len(s) + 1) ** 0.7
    sur = s[rng.choice(len(s), size=n, p=sw / sw.sum())]
    g = np.array(list(GIVEN))
    first = g[rng.integers(0, len(g), n)]
    second = np.where(rng.random(n) < 0.7, g[rng.integers(0, len(g), n)], "")
    return pl.Series("name", np.char.add(np.char.add(sur, first), second))


def mobiles(rng: np.random.Generator, n: int, salt: int) -> pl.Series:
    """Valid-looking mainland mobiles, unique within a run (a permutation of the index)."""
    prefix = np.array(MOBILE_PREFIXES)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    body = (np.arange(n, dtype=np.int64) * 48_271 + salt * 7_919 + 12_345) % 100_000_000
    return pl.Series("mobile", np.char.add(prefix, np.char.zfill(body.astype(str), 8)))


def borrower_ids(prefix: str, n: int) -> pl.Series:
    return pl.Series("borrower_id", [f"{prefix}B{i:08d}" for i in range(1, n + 1)])


def addresses(rng: np.random.Generator, b: Borrowers, regions: Regions) -> pl.Series:
    prov, city = regions.province[b.region], regions.city[b.region]
    dist = regions.district[b.region]
    # municipalities and cities without districts would repeat their own name
    city_part = np.where(city == prov, "", city)
    dist_part = np.where(dist == city, "", dist)
    street = np.array(STREETS)[rng.integers(0, len(STREETS), b.n)]
    no = rng.integers(1, 400, b.n).astype(str)
    parts = [prov, city_part, dist_part, street, no, np.full(b.n, "号")]
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(out, p)
    return pl.Series("address", out)


def borrower_rows(cfg: SimConfig, b: Borrowers, regions: Regions, prefix: str,
                  seed: int) -> pl.DataFrame:
    """The borrowers file of the ingestion data contract (strings, contract columns)."""
    rng = stream(seed, Stream.CONTACTS)
    ids = borrower_ids(prefix, b.n)
    employers = list(cfg.population.employers.values())
    occupation = np.empty(b.n, dtype=object)
    for k, e in enumerate(employers):
        at = np.flatnonzero(b.employer == k)
        occupation[at] = np.array(e.occupations, dtype=object)[
            rng.integers(0, len(e.occupations), len(at))]
    has_email = rng.random(b.n) < cfg.population.email_share
    domain = np.array(["example.com", "example.net", "example.org"])[rng.integers(0, 3, b.n)]
    email = np.char.add(np.char.add("u", np.char.zfill(np.arange(1, b.n + 1).astype(str), 8)),
                        np.char.add(f".{seed}@", domain))
    bands = np.array([x.label for x in cfg.population.income_bands])
    return pl.DataFrame([
        ids, names(rng, b.n),
        id_numbers(regions.code[b.region], b.birth, np.arange(b.n), b.female),
        mobiles(rng, b.n, seed),
        pl.Series("province", regions.province[b.region]),
        pl.Series("city", regions.city[b.region]),
        addresses(rng, b, regions),
        pl.Series("gender", np.where(b.female, "F", "M")),
        pl.Series("birth_date", b.birth.astype("datetime64[D]")).dt.strftime("%Y-%m-%d"),
        where(has_email, email).alias("email"),
        pl.Series("employer", employer_names(rng, b, cfg, regions)),
        pl.Series("occupation", occupation.astype(str)),
        pl.Series("income_band", bands[b.income_band]),
    ])


def employer_names(rng: np.random.Generator, b: Borrowers, cfg: SimConfig,
                   regions: Regions) -> npt.NDArray[np.str_]:
    """Invented employer names, marked 某 where they could be mistaken for a real one."""
    words = np.array(list("华盛恒鑫瑞嘉鼎泰宏兴达信安康源通卓越博远"))
    trade = np.array(["科技", "贸易", "建设", "物流", "餐饮", "电子", "商贸", "服务", "文化",
                      "医药"])
    company = np.char.add(np.char.add(words[rng.integers(0, len(words), b.n)],
                                      words[rng.integers(0, len(words), b.n)]),
                          np.char.add(trade[rng.integers(0, len(trade), b.n)], "有限公司"))
    city = regions.city[b.region]
    state = np.char.add(city, np.array(["某医院", "某中学", "某局", "某国有企业"])[
        rng.integers(0, 4, b.n)])
    shop = np.char.add(np.array(list(SURNAMES[:20]))[rng.integers(0, 20, b.n)],
                       np.array(["记餐馆", "记五金店", "记服装店", "记网店", "记小超市"])[
                           rng.integers(0, 5, b.n)])
    kind = np.array(list(cfg.population.employers))[b.employer]
    out = np.where(kind == "state", state, company)
    out = np.where(kind == "self_employed", shop, out)
    return np.where(kind == "gig", "灵活就业", out)


def start_day(d: date) -> int:
    return (d - _EPOCH).days


def day_of(n: int) -> date:
    return _EPOCH + timedelta(days=n)
