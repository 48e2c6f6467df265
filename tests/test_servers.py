"""The helpers that serve bakes: what they show when a served bake fails."""

from tests.servers import log_around_server_errors

ANSWERED = [f"12:00:{second:02} INFO api_keys GET /api/v1/whoami/ 200 2ms" for second in range(40)]


def test_the_lines_around_a_5xx_answer_are_shown() -> None:
    log = list(ANSWERED)
    log[19] = "12:00:19 ERROR my_api.api.exceptions Database error in WhoAmIView, answered 503"
    log[20] = "Traceback (most recent call last):"
    log[21] = "sqlite3.OperationalError: disk I/O error"
    log[22] = "12:00:22 INFO api_keys GET /api/v1/whoami/ 503 3ms key=abc name=x"
    shown = log_around_server_errors("\n".join(log), context=2)
    assert shown.splitlines()[0] == "..."
    for line in (log[17], log[19], log[21], log[22], log[24]):
        assert line in shown
    assert log[10] not in shown and log[30] not in shown


def test_a_clean_log_says_so() -> None:
    assert log_around_server_errors("\n".join(ANSWERED)).startswith("(no 5xx answer")
