"""Build brainbatch/data/prompts_sample.jsonl: a few hundred varied, realistic prompts.

The sample measures how far the offline token approximation is from an exact tokenizer
(see brainbatch/tokens.py). It mixes what people send to batch jobs: reviews, support
tickets, e-mails, instructions, code, JSON/CSV data, numbers, long documents and text in
twenty languages and scripts. Sources, all free to redistribute:

* texts written for this sample (reviews, tickets, instructions, multilingual sentences);
* short public-domain passages (Austen, Dickens, Melville, Carroll, Lincoln, Shakespeare,
  the King James Bible, the US Declaration of Independence);
* paragraphs of the Apache-2.0, MPL-2.0 and GPL-3 licence texts (Debian's common-licenses);
* docstrings and source lines of the Python standard library (PSF licence).

Run ``python bench/make_prompts_sample.py`` to rebuild it; the output is deterministic for a
given Python version and Debian licence files. Each line: ``{"id", "kind", "text"}``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import textwrap
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "brainbatch" / "data" / "prompts_sample.jsonl"

REVIEWS = [
    "Absolutely love this blender! Crushes ice in seconds and it's surprisingly quiet.",
    "The headphones sound great but the left ear cup started crackling after 3 weeks. "
    "Customer service was slow to respond (5 business days!).",
    "Meh. It works, I guess. Not worth $89.99 though.",
    "Arrived broken. Box was fine so it must've been packed that way. Requesting a refund.",
    "I've bought four of these for my team at work; two stopped charging within a month, "
    "the other two are fine. Quality control seems inconsistent.",
    "Five stars!!! Best purchase of 2024, my kids use it every single day :)",
    "The instructions were only in Chinese and the diagrams didn't match the parts. Took "
    "me 3 hours to assemble a bookshelf that should've taken 30 minutes.",
    "Good value for money. Battery lasts ~10 hrs with Wi-Fi on, which matches the spec.",
    "Terrible app, crashes every time I open the settings page on my Pixel 7 (Android 14).",
    "Fits true to size. The fabric is thinner than it looks in the photos, but it's summer "
    "so I don't mind.",
    "Replaced my old Keurig with this and honestly the coffee tastes better. The water tank "
    "is a bit small (40 oz) so I refill it daily.",
    "Do NOT buy. Charged my card twice, and the 'lifetime warranty' is a joke.",
    "Solid build, easy setup, the companion app is cluttered though. 4/5.",
    "My dog destroyed the 'indestructible' toy in 11 minutes. I timed it.",
    "The hotel was clean and the staff were friendly, but the Wi-Fi kept dropping and "
    "breakfast ended at 9:30 which is way too early on a weekend.",
    "Shipping took 17 days instead of the promised 3-5. Product itself is OK.",
]

TICKETS = [
    "Hi, I was charged $49.00 on 03/14 but my subscription was cancelled on 03/02. Order "
    "#A-99812. Please refund.",
    "Your website crashes when I try to pay with a credit card (Visa ending 4411). Error "
    "code: PAY_502_GATEWAY.",
    "Can't log in since the update. I reset my password twice and still get 'invalid "
    "credentials'. Username: jlee_1987",
    "The export to CSV button produces a file with all dates shifted by one day. We're in "
    "UTC+10 (Sydney) if that matters.",
    "Feature request: please add dark mode to the desktop app. My eyes hurt after 8pm.",
    "URGENT: our API key (ending ...f3a9) was rate limited at 60 RPM even though our plan "
    "says 3,500 RPM. Production is down!!",
    "How do I transfer my account to a new email address? The old one (old@example.com) "
    "belongs to my previous employer.",
    "Invoice INV-2024-00317 lists 12 seats but we only have 9 active users. Can you fix "
    "this before the next billing cycle on the 1st?",
    "The mobile app shows a blank screen after the splash logo on iOS 17.4.1, iPhone 13 "
    "mini. Reinstalling didn't help.",
    "Hello team,\n\nWe'd like to upgrade from the Starter plan to Business, but keep our "
    "annual billing date. Is that possible?\n\nThanks,\nPriya",
]

INSTRUCTIONS = [
    "Classify the sentiment of the following review as positive, negative, neutral or "
    "mixed. Answer with one word.\n\nReview: {text}",
    "Summarize the following text in three bullet points:\n\n{text}",
    "Extract every person, organisation, product and date mentioned below. Return JSON "
    'with keys "people", "orgs", "products", "dates".\n\n{text}',
    "Translate into French, keeping the tone:\n{text}",
    "You are a support agent. Write a short, polite reply to this ticket. Do not promise "
    "refunds.\n\nTicket:\n{text}",
    "Rate how urgent this message is from 1 (not urgent) to 5 (critical) and explain why in "
    "one sentence.\n---\n{text}\n---",
    "{text}\n\nTL;DR:",
    'Rewrite the passage below in plain English for a 12-year-old.\n\n"""\n{text}\n"""',
    "Q: What is the main claim of this text?\n{text}\nA:",
    'Return a JSON object {{"topic": str, "language": str, "tone": str}} for:\n{text}',
]

SHORT_TASKS = [
    "Explain how compound interest works in two sentences for a curious teenager.",
    "Write a haiku about a rainy Monday in Berlin.",
    "What's the capital of Australia?",
    "List 5 synonyms for 'quick'.",
    "Convert 72 degrees Fahrenheit to Celsius and show the formula.",
    "Is 2,147,483,647 a prime number?",
    "Give me a SQL query that returns the top 10 customers by revenue in 2023.",
    "What does HTTP status 429 mean and how should a client react to it?",
    "Suggest a name for a bakery that only sells sourdough.",
    "Write a regex that matches ISO-8601 dates like 2024-03-15T10:30:00Z.",
    "Why is the sky blue? Keep it under 50 words.",
    "Draft a tweet announcing our v2.3.0 release with 3 new features.",
    "hi",
    "ok thanks!",
    "What is 17 * 23 + 4^3 - sqrt(144)?",
    "Spell 'necessary' backwards.",
    "Name three differences between TCP and UDP.",
    "Describe the water cycle using exactly four sentences.",
]

MULTILINGUAL = {
    "fr": "Bonjour, j'ai commandé une machine à café le 12 mars et elle n'est toujours pas "
    "arrivée. Pourriez-vous vérifier l'état de ma commande, s'il vous plaît ? Merci "
    "d'avance pour votre aide.",
    "de": "Die Lieferung kam zwei Tage zu spät, und die Verpackung war beschädigt. Der "
    "Staubsauger funktioniert zwar, aber die Fernbedienung fehlt. Ich bitte um "
    "schnellstmögliche Rückmeldung.",
    "es": "El producto es de buena calidad, aunque el envío tardó más de lo esperado. La "
    "atención al cliente fue muy amable y resolvió mi problema en menos de una hora.",
    "it": "Ho acquistato queste scarpe per correre, ma dopo due settimane la suola si è "
    "già staccata. Non consiglio questo prodotto a nessuno.",
    "pt": "A aplicação é ótima para organizar as minhas tarefas, mas às vezes as "
    "notificações não aparecem no telemóvel. Fora isso, estou muito satisfeito.",
    "nl": "De fiets is licht en rijdt heerlijk, maar de bel ging na een week al kapot. "
    "Jammer, want verder ben ik erg tevreden over de aankoop.",
    "pl": "Zamówiłem laptopa w piątek, a przyszedł już w poniedziałek. Ekran jest jasny, "
    "klawiatura wygodna, ale bateria trzyma krócej, niż obiecywał producent.",
    "sv": "Jag har använt den här appen i ett år och den blir bara bättre. "
    "Synkroniseringen mellan telefon och dator fungerar utan problem.",
    "tr": "Ürün açıklamada yazdığı gibi değildi. Rengi farklıydı ve kumaşı çok ince. İade "
    "etmek istiyorum, lütfen yardımcı olur musunuz?",
    "ru": "Здравствуйте! Я оплатил заказ три дня назад, но статус до сих пор не изменился. "
    "Подскажите, пожалуйста, когда ожидать доставку?",
    "uk": "Дуже задоволена покупкою: чайник швидко закипає, не шумить і виглядає "
    "стильно. Рекомендую всім друзям.",
    "el": "Η εξυπηρέτηση πελατών ήταν εξαιρετική και το προϊόν έφτασε νωρίτερα από το "
    "αναμενόμενο. Θα ξαναπαραγγείλω σίγουρα.",
    "ar": "مرحباً، لقد طلبت هاتفاً جديداً الأسبوع الماضي ولكن لم يصلني حتى الآن. أرجو "
    "إبلاغي بموعد التسليم المتوقع. شكراً لكم.",
    "he": "הזמנתי את המוצר לפני שבועיים והוא עדיין לא הגיע. אשמח לקבל עדכון לגבי מצב ההזמנה שלי.",
    "hi": "मैंने पिछले सप्ताह एक नया फ़ोन खरीदा था, लेकिन उसकी बैटरी बहुत जल्दी खत्म हो "
    "जाती है। कृपया मुझे बताएं कि मैं इसे कैसे बदल सकता हूँ।",
    "zh": "我上周在你们的网站上买了一台咖啡机，但是到现在还没有收到。请帮我查一下订单"
    "状态，谢谢！另外，发票能不能开成公司抬头？",
    "ja": "先週注文した掃除機がまだ届いていません。注文番号は12345です。配送状況を確認"
    "していただけますか。よろしくお願いいたします。",
    "ko": "지난주에 주문한 노트북이 아직 도착하지 않았습니다. 배송 상태를 확인해 "
    "주시겠어요? 빠른 답변 부탁드립니다.",
    "vi": "Tôi đã đặt mua một chiếc máy giặt vào tuần trước nhưng vẫn chưa nhận được "
    "hàng. Xin vui lòng kiểm tra giúp tôi tình trạng đơn hàng.",
    "th": "สินค้าคุณภาพดีมาก จัดส่งรวดเร็ว บรรจุภัณฑ์แข็งแรง จะกลับมาซื้ออีกแน่นอน ขอบคุณครับ",
    "id": "Barang sampai dengan selamat dan sesuai deskripsi. Penjual juga sangat ramah "
    "dan cepat membalas pesan. Terima kasih!",
}

PUBLIC_DOMAIN = [
    "It is a truth universally acknowledged, that a single man in possession of a good "
    "fortune, must be in want of a wife. However little known the feelings or views of such "
    "a man may be on his first entering a neighbourhood, this truth is so well fixed in the "
    "minds of the surrounding families, that he is considered the rightful property of some "
    "one or other of their daughters.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was "
    "the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it "
    "was the season of Light, it was the season of Darkness, it was the spring of hope, it "
    "was the winter of despair, we had everything before us, we had nothing before us.",
    "Call me Ishmael. Some years ago—never mind how long precisely—having little or no "
    "money in my purse, and nothing particular to interest me on shore, I thought I would "
    "sail about a little and see the watery part of the world. It is a way I have of driving "
    "off the spleen and regulating the circulation.",
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
    "having nothing to do: once or twice she had peeped into the book her sister was "
    "reading, but it had no pictures or conversations in it, 'and what is the use of a "
    "book,' thought Alice 'without pictures or conversations?'",
    "Four score and seven years ago our fathers brought forth on this continent, a new "
    "nation, conceived in Liberty, and dedicated to the proposition that all men are "
    "created equal. Now we are engaged in a great civil war, testing whether that nation, "
    "or any nation so conceived and so dedicated, can long endure.",
    "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
    "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short "
    "a date;",
    "In the beginning God created the heaven and the earth. And the earth was without form, "
    "and void; and darkness was upon the face of the deep. And the Spirit of God moved upon "
    "the face of the waters. And God said, Let there be light: and there was light.",
    "We hold these truths to be self-evident, that all men are created equal, that they "
    "are endowed by their Creator with certain unalienable Rights, that among these are "
    "Life, Liberty and the pursuit of Happiness.",
]

CODE_MODULES = ["json", "textwrap", "functools", "heapq", "bisect", "fractions", "shlex"]
DOC_MODULES = [
    "asyncio",
    "collections",
    "csv",
    "datetime",
    "decimal",
    "email",
    "functools",
    "heapq",
    "http.client",
    "itertools",
    "json",
    "logging",
    "pathlib",
    "re",
    "sqlite3",
    "statistics",
    "string",
    "subprocess",
    "textwrap",
    "threading",
    "typing",
    "unittest",
    "urllib.parse",
    "zipfile",
    "argparse",
    "calendar",
    "difflib",
    "fractions",
    "shlex",
    "socket",
]
LICENCES = [
    "/usr/share/common-licenses/Apache-2.0",
    "/usr/share/common-licenses/MPL-2.0",
    "/usr/share/common-licenses/GPL-3",
]


def _paragraphs(path: str) -> list[str]:
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError:
        return []
    paras = [" ".join(p.split()) for p in raw.split("\n\n")]
    return [p for p in paras if len(p) > 200]


def _docstrings() -> list[str]:
    out = []
    for name in DOC_MODULES:
        mod = importlib.import_module(name)
        doc = inspect.getdoc(mod) or ""
        if len(doc) > 150:
            out.append(doc[:4000])
        for _, obj in sorted(vars(mod).items())[:40]:
            d = inspect.getdoc(obj) if callable(obj) else None
            if d and 200 < len(d) < 3000 and getattr(obj, "__module__", "") == name:
                out.append(d)
    return out


def _code() -> list[str]:
    out = []
    for name in CODE_MODULES:
        src = inspect.getsource(importlib.import_module(name))
        lines = src.splitlines()
        for start in range(40, len(lines) - 60, 170):
            out.append("\n".join(lines[start : start + 25 + start % 35]))
    return out


def _data_rows(rng: random.Random) -> list[str]:
    out = []
    names = ["Ana", "Bo", "Chen", "Dmitri", "Eve", "Fatima", "Günter", "Hiro", "Ines", "Jon"]
    for _ in range(12):
        rows = [
            {
                "id": rng.randint(1000, 99999),
                "name": rng.choice(names),
                "amount": round(rng.uniform(1, 5000), 2),
                "currency": rng.choice(["USD", "EUR", "JPY"]),
                "paid": rng.random() < 0.7,
                "ts": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
            }
            for _ in range(rng.randint(1, 8))
        ]
        if rng.random() < 0.5:
            body = json.dumps(rows, ensure_ascii=False, indent=rng.choice([None, 2]))
        else:
            head = ",".join(rows[0])
            body = head + "\n" + "\n".join(",".join(str(v) for v in r.values()) for r in rows)
        out.append("Find anomalies in these transactions and explain briefly:\n" + body)
    for _ in range(6):
        nums = " ".join(str(rng.randint(0, 10 ** rng.randint(1, 9))) for _ in range(30))
        out.append("Compute the mean and median of: " + nums)
    out.append(
        "Check these URLs for typos: https://www.example.com/path?q=1&lang=en, "
        "http://exmaple.org/index.html, https://docs.python.org/3/library/re.html#re.sub"
    )
    out.append(
        "| product | q1 | q2 | q3 |\n|---|---|---|---|\n| widgets | 1,204 | 1,388 | 977 |\n"
        "| gadgets | 455 | 610 | 702 |\n\nDescribe the trend in this table."
    )
    return out


def build() -> list[dict[str, str]]:
    rng = random.Random(20261125)
    items: list[tuple[str, str]] = []
    for t in SHORT_TASKS:
        items.append(("short", t))
    for text in REVIEWS + TICKETS:
        for _ in range(2):
            items.append(("review_task", rng.choice(INSTRUCTIONS).format(text=text)))
    for lang, text in MULTILINGUAL.items():
        items.append((f"lang_{lang}", text))
        items.append((f"lang_{lang}", rng.choice(INSTRUCTIONS[:6]).format(text=text)))
    for text in PUBLIC_DOMAIN:
        items.append(("literature", text))
        items.append(("literature", rng.choice(INSTRUCTIONS).format(text=text)))
    docs = _docstrings()
    rng.shuffle(docs)
    for text in docs[:90]:
        items.append(("docs", rng.choice(INSTRUCTIONS).format(text=text)))
    for text in _code()[:45]:
        items.append(
            ("code", "Review this Python code and point out bugs:\n```python\n" + text + "\n```")
        )
    lic = [p for path in LICENCES for p in _paragraphs(path)]
    rng.shuffle(lic)
    for text in lic[:40]:
        items.append(("legal", rng.choice(INSTRUCTIONS).format(text=text)))
    for text in _data_rows(rng):
        items.append(("data", text))
    # long documents: several paragraphs joined (1,000 to 4,000 tokens)
    pool = docs[90:] + lic[40:] + PUBLIC_DOMAIN
    for _ in range(14):
        k = rng.randint(4, 14)
        body = "\n\n".join(textwrap.fill(p, 100) for p in rng.sample(pool, min(k, len(pool))))
        items.append(("long", "Summarize the following document:\n\n" + body))
    return [{"id": f"s{i:04d}", "kind": kind, "text": text} for i, (kind, text) in enumerate(items)]


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prompts, {OUT.stat().st_size:,} bytes to {OUT.name}")


if __name__ == "__main__":
    main()
