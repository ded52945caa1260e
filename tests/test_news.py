from civic_briefs.models import NewsItem
from civic_briefs.news import news_for_brief, normalise_url, unique_items


def item(interest: str, url: str) -> NewsItem:
    return NewsItem(interest=interest, title=f"{interest} {url}", url=url)


def test_each_interest_keeps_its_whole_list_so_segments_stay_shared():
    fetched = {
        "economy": [item("economy", "https://a.example/1"), item("economy", "https://www.shared.example/x/?utm_source=1")],
        "taxes": [item("taxes", "http://shared.example/x"), item("taxes", "https://a.example/2")],
        "housing": [item("housing", "https://h.example/1"), item("housing", "https://h.example/2")],
    }
    kept = news_for_brief(fetched, limit=6)
    # taxes keeps the story economy also has: its segment is the same for a taxes-only listener.
    assert kept == fetched
    assert [i.url for i in unique_items(kept)] == [
        "https://a.example/1", "https://www.shared.example/x/?utm_source=1", "https://a.example/2",
        "https://h.example/1", "https://h.example/2"]
    assert news_for_brief({"taxes": fetched["taxes"]}, limit=6)["taxes"] == fetched["taxes"]


def test_whole_interests_are_left_out_to_stay_within_the_limit_or_when_nothing_is_new():
    fetched = {
        "economy": [item("economy", "https://a.example/1"), item("economy", "https://a.example/2")],
        "taxes": [item("taxes", "https://a.example/1/")],  # nothing new
        "housing": [item("housing", "https://h.example/1"), item("housing", "https://h.example/2")],
        "climate": [item("climate", "https://c.example/1")],
    }
    assert list(news_for_brief(fetched, limit=3)) == ["economy", "climate"]
    assert news_for_brief({"economy": fetched["economy"]}, limit=1) == {"economy": fetched["economy"][:1]}
    assert news_for_brief({}, limit=3) == {}


def test_normalised_urls():
    assert normalise_url("HTTPS://WWW.Example.com:443/a/?fbclid=1&b=2") == "//example.com/a?b=2"
    assert normalise_url("http://example.com:8080/a#frag") == "//example.com:8080/a"
