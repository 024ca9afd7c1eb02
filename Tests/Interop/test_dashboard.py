"""The dashboard at /admin/ (protocol-spec/admin.md §6): the page and its headers, then the page
itself driven by headless Chromium against a real server with real clients."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from restenv import http_request, make_jwt
from sdkenv import ACCESS_KEY, ALL_ROLES, JSON_PROTOCOL, RawClient, client_url, handshake_status, start_wps

HUB = "dashhub"
SCREENSHOT = Path(__file__).resolve().parents[2] / ".build" / "dashboard.png"
WAIT = 15  # seconds, the bound on every wait for the page


@pytest.fixture(scope="module")
def srv():
    server = start_wps()
    yield server
    server.stop()


def admin_token(port: int) -> str:
    now = int(time.time())
    return make_jwt({"aud": f"http://127.0.0.1:{port}/admin", "iat": now, "exp": now + 600}, ACCESS_KEY)


# --------------------------------------------------------------------------------------------
# The page over plain HTTP
# --------------------------------------------------------------------------------------------

def test_page_served_without_token_with_strict_csp(srv):
    r = http_request(srv.port, "GET", "/admin/")
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    csp = r.header("Content-Security-Policy") or ""
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    assert directives["default-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'", "ws:", "wss:"]
    assert directives["script-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert r.header("Cache-Control") == "no-store"
    assert r.header("X-Content-Type-Options") == "nosniff"
    page = r.body.decode()
    assert page.startswith("<!doctype html>")
    # Offline: nothing is fetched from another origin.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page loads something external"
    assert "/admin/trace?" in page and "Authorization" in page

    head = http_request(srv.port, "HEAD", "/admin/")
    assert head.status == 200 and head.body == b""


def test_only_the_page_is_open(srv):
    # Other methods on the page, and every other admin path, still need the token.
    assert http_request(srv.port, "POST", "/admin/").status == 401
    assert http_request(srv.port, "GET", "/admin/server").status == 401
    assert http_request(srv.port, "GET", "/admin").status == 401
    token = admin_token(srv.port)
    assert http_request(srv.port, "POST", "/admin/", headers={"Authorization": f"Bearer {token}"}).status == 405


# --------------------------------------------------------------------------------------------
# The page in a browser
# --------------------------------------------------------------------------------------------

def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("chromium and chromium-driver are not installed and could not be "
                    "(scripts/setup.sh installs them with apt-get)")
    return chromium, driver


@pytest.fixture
def browser():
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1440,1500", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _connect(port: int, user: str) -> tuple[RawClient, str]:
    client = RawClient.open(client_url(port, hub=HUB, user_id=user, roles=ALL_ROLES), JSON_PROTOCOL)
    connected = client.recv_json()
    assert connected["event"] == "connected", connected
    return client, connected["connectionId"]


@pytest.mark.deadline(120)
def test_dashboard_in_browser(srv, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def text(element_id: str) -> str:
        found = browser.find_elements(By.ID, element_id)
        return found[0].text if found else ""

    def wait_for(what: str, pred) -> None:
        WebDriverWait(browser, WAIT, poll_frequency=0.1).until(lambda _: pred(), message=what)

    port = srv.port
    browser.get(f"http://127.0.0.1:{port}/admin/")
    assert "wps-server" in browser.title

    browser.find_element(By.ID, "token").send_keys(admin_token(port))
    browser.find_element(By.ID, "connect").click()
    wait_for("the status says live", lambda: text("status") == "live")
    wait_for("the count shows no connections", lambda: text("total") == "0")
    wait_for("the unfiltered trace is open", lambda: text("trace-state") == "showing every event")
    time.sleep(0.5)  # every loop learns of the trace viewer through its inbox

    clients = []
    try:
        for user in ("alice", "bob", "carol"):
            clients.append(_connect(port, user))
        wait_for("the count shows 3 connections", lambda: text("total") == "3")
        wait_for("the hub is listed", lambda: HUB in text("hubs"))

        alice, alice_id = clients[0]
        alice.send_json({"type": "joinGroup", "group": "room", "ackId": 1})
        assert alice.ack(1)["success"] is True
        alice.send_json({"type": "sendToGroup", "group": "room", "dataType": "text", "data": "hello"})

        def traced(kind: str) -> bool:
            rows = browser.find_elements(By.CSS_SELECTOR, f'#trace .ev[data-type="{kind}"]')
            return any(alice_id in row.text for row in rows)

        wait_for("the trace shows alice's joinGroup", lambda: traced("joinGroup"))
        wait_for("the trace shows alice's sendToGroup", lambda: traced("sendToGroup"))

        box = browser.find_element(By.ID, "inspect-id")
        box.clear()
        box.send_keys(alice_id)
        browser.find_element(By.ID, "inspect-go").click()
        wait_for("the inspector shows queued bytes",
                 lambda: re.fullmatch(r"\d+(\.\d)? (B|KiB|MiB)", text("insp-queued")) is not None)
        assert text("insp-user") == "alice"
        assert "room" in text("insp-groups")

        # A refused upgrade shows among the problems.
        status, _ = handshake_status(f"ws://127.0.0.1:{port}/client/hubs/{HUB}?access_token=not-a-token")
        assert status == 401
        wait_for("the refusal is listed", lambda: "refused" in text("problems") and HUB in text("problems"))

        # A group filter opens a filtered trace; alice's next send to the group shows in it.
        browser.find_element(By.ID, "f-group").send_keys("room")
        browser.find_element(By.CSS_SELECTOR, "#filter-form button[type=submit]").click()
        wait_for("the filtered trace is open", lambda: text("trace-state") == "filtered: group=room")
        time.sleep(0.5)  # every loop learns of the new viewer
        alice.send_json({"type": "sendToGroup", "group": "room", "dataType": "text", "data": "again"})
        wait_for("the filtered trace shows the send", lambda: traced("sendToGroup"))
        assert not browser.find_elements(By.CSS_SELECTOR, '#trace .ev[data-type="opened"]')

        wait_for("the slowest table lists the clients",
                 lambda: sum(cid in text("slowest") for _, cid in clients) == 3)
        time.sleep(1.2)  # one more chart tick, so the screenshot shows the lines
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
    finally:
        for client, _ in clients:
            client.close()

    wait_for("the count drops back to 0", lambda: text("total") == "0")
    # The inspector notices that alice is gone; Chromium logs that 404 as a network error, the
    # only one expected.
    wait_for("the inspector says the connection ended", lambda: "no such connection" in text("insp-missing"))
    gone = f"/admin/connections/{alice_id} - Failed to load resource: the server responded with a status of 404"
    errors = [entry for entry in browser.get_log("browser")
              if entry.get("level") == "SEVERE" and not (entry.get("source") == "network" and gone in entry["message"])]
    assert not errors, f"console errors: {errors}"
    srv.assert_alive(echo=False)
