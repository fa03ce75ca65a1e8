// feedbot dashboard: the Mini App sign-in and Telegram's theme, with no script from
// anywhere else. Telegram opens a Mini App with its signed initData and theme in the
// URL's fragment (#tgWebAppData=...&tgWebAppThemeParams=...): read them from there.
(function () {
  "use strict";
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  var themeKey = "feedbot.theme";
  var theme = fragment.get("tgWebAppThemeParams");
  try {
    if (theme) { window.sessionStorage.setItem(themeKey, theme); }
    else { theme = window.sessionStorage.getItem(themeKey); }
  } catch (e) { /* storage may be off: the page still works in the system's scheme */ }
  if (theme) {
    try {
      var params = JSON.parse(theme);
      var names = {
        bg_color: "--bg", text_color: "--text", hint_color: "--hint", link_color: "--link",
        button_color: "--accent", button_text_color: "--accent-text",
        secondary_bg_color: "--card"
      };
      var root = document.documentElement.style;
      Object.keys(names).forEach(function (key) {
        var value = params[key];
        if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
          root.setProperty(names[key], value);
        }
      });
    } catch (e) { /* malformed theme: keep the defaults */ }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var body = document.body;
    var login = body.getAttribute("data-login");
    var initData = fragment.get("tgWebAppData");
    if (login && initData) {
      var form = new URLSearchParams();
      form.set("init_data", initData);
      fetch(login, { method: "POST", body: form, credentials: "same-origin" }).then(
        function (response) {
          if (response.ok) { window.location.replace(body.getAttribute("data-next") || "/"); }
          else { return response.text().then(function (text) {
            var doc = new DOMParser().parseFromString(text, "text/html");
            var message = doc.getElementById("message");
            if (message) { document.getElementById("message").textContent = message.textContent; }
          }); }
        }
      );
    }
    var form = document.querySelector("form[data-autosubmit]");
    if (form) { form.submit(); }
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
