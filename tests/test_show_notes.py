"""The digest's links: each bill's Congress.gov page, each news item's source."""

import datetime as dt

import pytest

from civic_briefs.briefing import assemble_script
from civic_briefs.models import BillSelection, NewsItem, SelectedBill
from civic_briefs.providers.offline_writer import OfflineWriter
from civic_briefs.show_notes import congress_gov_url, link_bill
from tests.factories import make_bill, make_user

DAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize("bill_type,url", [
    ("hr", "https://www.congress.gov/bill/117th-congress/house-bill/1315"),
    ("s", "https://www.congress.gov/bill/117th-congress/senate-bill/1315"),
    ("hjres", "https://www.congress.gov/bill/117th-congress/house-joint-resolution/1315"),
    ("sjres", "https://www.congress.gov/bill/117th-congress/senate-joint-resolution/1315"),
    ("hconres", "https://www.congress.gov/bill/117th-congress/house-concurrent-resolution/1315"),
    ("sconres", "https://www.congress.gov/bill/117th-congress/senate-concurrent-resolution/1315"),
    ("hres", "https://www.congress.gov/bill/117th-congress/house-resolution/1315"),
    ("sres", "https://www.congress.gov/bill/117th-congress/senate-resolution/1315"),
])
def test_congress_gov_url_for_each_bill_type(bill_type, url):
    assert congress_gov_url(117, bill_type, 1315) == url
    assert congress_gov_url(117, bill_type.upper(), 1315) == url


def test_ordinals_and_unknown_types():
    assert congress_gov_url(121, "s", 4) == "https://www.congress.gov/bill/121st-congress/senate-bill/4"
    assert congress_gov_url(112, "hr", 1) == "https://www.congress.gov/bill/112th-congress/house-bill/1"
    with pytest.raises(ValueError, match="unknown bill type 'hamdt'"):
        congress_gov_url(117, "hamdt", 1)


def test_a_label_is_linked_once_and_not_inside_a_longer_label():
    bill = make_bill(31, bill_type="s")
    url = "https://www.congress.gov/bill/117th-congress/senate-bill/31"
    assert link_bill("- **S. 31: Act** like S. 3157", bill) == f"- **[S. 31]({url}): Act** like S. 3157"
    assert link_bill("- **Act**: about S. 3157", bill) == f"- **Act**: about S. 3157 ([S. 31 on Congress.gov]({url}))"
    linked = link_bill("- **S. 31: Act**", bill)
    assert link_bill(linked, bill) == linked


def test_the_digest_links_every_bill_and_every_news_item():
    writer = OfflineWriter()
    bills = [make_bill(1, status="enacted"), make_bill(2, bill_type="s"), make_bill(7, bill_type="hjres")]
    selection = BillSelection(user_id="u1", interests=["healthcare"], items=[
        SelectedBill(bill=bills[0], section="top_story", interest="healthcare"),
        SelectedBill(bill=bills[1], section="quick_hit", interest="healthcare"),
        SelectedBill(bill=bills[2], section="quick_hit", interest="healthcare")])
    stories = [writer.write_story(i.bill, i.section, DAY, "daily") for i in selection.items]
    items = [NewsItem(interest="healthcare", title="Clinics [update]", url="https://a.example.com/1", source="A News"),
             NewsItem(interest="healthcare", title="Hospitals", url="https://b.example.com/2")]
    news = [writer.write_news("healthcare", items, DAY, "daily")]
    user = make_user()
    script = assemble_script(writer.write_opening(user, stories, news, DAY, "daily"), stories, news,
                             writer.write_close(user, stories, news, DAY, "daily"), selection)

    assert script.digest.count("](https://www.congress.gov/bill/117th-congress/") == 3
    assert "- **[H.R. 1](https://www.congress.gov/bill/117th-congress/house-bill/1): Test Act number 1**" in script.digest
    assert "- **[S. 2](https://www.congress.gov/bill/117th-congress/senate-bill/2): " in script.digest
    assert "[H.J.Res. 7](https://www.congress.gov/bill/117th-congress/house-joint-resolution/7)" in script.digest
    assert ("## In the news: health care\n- [Clinics \\[update\\]](https://a.example.com/1) (A News)\n"
            "- [Hospitals](https://b.example.com/2)") in script.digest
    # The close says the digest links what it links.
    assert "The digest in the app links every bill and news story we covered." in script.transcript
