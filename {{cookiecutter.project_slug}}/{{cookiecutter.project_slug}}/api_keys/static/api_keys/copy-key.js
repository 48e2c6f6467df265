// The page that shows a new key: its Copy button puts the key on the clipboard and says so. Where
// the browser refuses (no permission, a page not served over HTTPS), it selects the key instead,
// for Ctrl+C. A file of its own, not inline script: the admin's Content-Security-Policy allows
// scripts from this site only.
"use strict";
{
  const key = document.getElementById("api-key");
  const button = document.getElementById("copy-api-key");
  const status = document.getElementById("copy-api-key-status");

  const selectKey = () => {
    const range = document.createRange();
    range.selectNodeContents(key);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  };

  button.addEventListener("click", () => {
    status.textContent = "";
    const copying = navigator.clipboard
      ? navigator.clipboard.writeText(key.textContent.trim())
      : Promise.reject(new Error("no clipboard"));
    copying.then(
      () => {
        status.textContent = "Copied";
      },
      () => {
        selectKey();
        status.textContent = "Selected: press Ctrl+C (Cmd+C on a Mac) to copy it";
      },
    );
  });
  button.hidden = false; // without this script the button would do nothing, so it starts hidden
}
