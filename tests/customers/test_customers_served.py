"""ServedNames: nginx's server_names for the leak check, read at most every few minutes, and
kept when a later read fails."""

from __future__ import annotations

from structlog.testing import capture_logs

from calmopsd.customers.served import ServedNames


class Reads:
    """What nginx says at each read: names, or an error."""

    def __init__(self, *answers: tuple[str, ...] | Exception):
        self.answers = list(answers)
        self.count = 0

    def __call__(self) -> tuple[str, ...]:
        self.count += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_nginx_is_read_at_the_first_check_and_again_only_once_the_interval_passed() -> None:
    now = [100.0]
    reads = Reads(("intranet",), ("intranet", "grafana-acme"))
    served = ServedNames(reads, reread_s=300, monotonic=lambda: now[0])
    assert reads.count == 0  # nothing read before a message is checked
    assert served() == ("intranet",)
    now[0] += 299
    assert served() == ("intranet",)
    assert reads.count == 1
    now[0] += 1
    assert served() == ("intranet", "grafana-acme")
    assert reads.count == 2


def test_a_read_that_fails_keeps_the_names_read_before_and_says_so() -> None:
    now = [0.0]
    reads = Reads(("intranet",), OSError("nginx: permission denied"), ("grafana-acme",))
    served = ServedNames(reads, reread_s=60, monotonic=lambda: now[0])
    assert served() == ("intranet",)
    now[0] += 60
    with capture_logs() as logs:
        assert served() == ("intranet",)
    assert logs == [
        {
            "event": "customers.server_names_unread",
            "error": "nginx: permission denied",
            "log_level": "warning",
        }
    ]
    assert served() == ("intranet",)  # not asked again at once
    now[0] += 60
    assert served() == ("grafana-acme",)
