// The page that shows a new key answers a form POST. Replacing its history entry makes a reload
// open the key's own page (which never shows the key) instead of posting the form again.
window.history.replaceState(null, "", document.currentScript.dataset.location);
