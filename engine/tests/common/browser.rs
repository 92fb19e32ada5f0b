//! A real headless browser for page tests: Debian's chromium, driven through the DevTools
//! protocol over `--remote-debugging-pipe` (file descriptors 3 and 4, messages ended by a NUL
//! byte), so no port or WebSocket library is needed. A test opens a tab, navigates, reads the
//! DOM, clicks and submits as a buyer would, and reads every URL the page asked for.
//!
//! Fails (never skips) where chromium is missing: `apt-get install chromium`, as the CI does.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// One command's answer; a navigation's load is waited for apart.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Browser {
    child: Child,
    to_browser: std::io::PipeWriter,
    answers: Receiver<Value>,
    /// Every request a page made (`Network.requestWillBeSent`), by URL.
    requested: Arc<Mutex<Vec<String>>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// One tab, attached with its own session.
pub struct Tab {
    session: String,
}

impl Browser {
    pub fn launch() -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: the checkout tests drive a real headless browser. \
             Install it with `apt-get install chromium` (the CI does this in .ci/run)."
        );
        let profile = tempfile::tempdir().expect("a profile directory");
        let (browser_reads, from_test) = std::io::pipe().expect("a pipe");
        let (to_test, browser_writes) = std::io::pipe().expect("a pipe");
        let reads: OwnedFd = browser_reads.into();
        let writes: OwnedFd = browser_writes.into();
        let (read_fd, write_fd) = (reads.as_raw_fd(), writes.as_raw_fd());
        let mut command = Command::new(CHROMIUM);
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .args(["--disable-extensions", "--disable-dev-shm-usage", "--remote-debugging-pipe"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .env("HOME", profile.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(read_fd, 3) < 0 || libc::dup2(write_fd, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|error| panic!("run {CHROMIUM}: {error}"));
        drop((reads, writes));
        let (answers_in, answers) = mpsc::channel();
        let requested = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requested);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(to_test);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                message.pop();
                let Ok(message) = serde_json::from_slice::<Value>(&message) else { continue };
                if message["method"] == "Network.requestWillBeSent" {
                    let url = message["params"]["request"]["url"].as_str().unwrap_or_default();
                    seen.lock().unwrap().push(url.to_owned());
                } else if message.get("id").is_some() && answers_in.send(message).is_err() {
                    return;
                }
            }
        });
        Browser { child, to_browser: from_test, answers, requested, next_id: 0, _profile: profile }
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self.answers.recv_timeout(left).unwrap_or_else(|_| {
                panic!("chromium did not answer {method} within {COMMAND_TIMEOUT:?}")
            });
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method} failed: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// A new tab on `about:blank`, its network followed.
    pub fn tab(&mut self) -> Tab {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        let tab = Tab { session: attached["sessionId"].as_str().unwrap().to_owned() };
        self.call(Some(&tab.session), "Network.enable", json!({}));
        self.call(Some(&tab.session), "Page.enable", json!({}));
        tab
    }

    /// `expression`'s value in the tab's page (awaited if it is a promise).
    pub fn eval(&mut self, tab: &Tab, expression: &str) -> Value {
        let result = self.call(
            Some(&tab.session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        result["result"]["value"].clone()
    }

    pub fn navigate(&mut self, tab: &Tab, url: &str) {
        self.call(Some(&tab.session), "Page.navigate", json!({ "url": url }));
        self.wait_until(tab, "document.readyState === 'complete'", Duration::from_secs(30));
    }

    /// Waits until `condition` (an expression) is true in the tab, reading it every 100 ms.
    pub fn wait_until(&mut self, tab: &Tab, condition: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        let guarded = format!(
            "(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        );
        while Instant::now() < deadline {
            if self.eval(tab, &guarded) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let location = self.location(tab);
        let text = self.text(tab);
        panic!("`{condition}` did not hold within {limit:?} at {location}:\n{text}");
    }

    pub fn location(&mut self, tab: &Tab) -> String {
        self.eval(tab, "location.href").as_str().unwrap_or_default().to_owned()
    }

    /// The page's text as a reader sees it.
    pub fn text(&mut self, tab: &Tab) -> String {
        self.eval(tab, "document.body ? document.body.innerText : ''")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Clicks the element `selector` finds, as a buyer would.
    pub fn click(&mut self, tab: &Tab, selector: &str) {
        let clicked = self.eval(
            tab,
            &format!(
                "(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; \
                 e.click(); return true; }})()"
            ),
        );
        assert_eq!(clicked, json!(true), "nothing on the page matches {selector}");
    }

    /// Sets a form field's value.
    pub fn fill(&mut self, tab: &Tab, selector: &str, value: &str) {
        let filled = self.eval(
            tab,
            &format!(
                "(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; \
                 e.value = {value:?}; return true; }})()"
            ),
        );
        assert_eq!(filled, json!(true), "nothing on the page matches {selector}");
    }

    /// Every URL a page in this browser asked for so far.
    pub fn requested(&self) -> Vec<String> {
        self.requested.lock().unwrap().clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
