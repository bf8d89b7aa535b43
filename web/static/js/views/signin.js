// Sign in. The server sets an httponly session cookie; this page never holds the token.

import { h, icon, replace, field } from "../dom.js";
import { api, describeError } from "../api.js";
import { t, locale, loadLocale } from "../i18n.js";
import { setBaseTitle } from "../alerts.js";

export function renderSignIn(root, { message = null, onSignedIn }) {
  let localeChosen = null;
  const draw = () => {
    setBaseTitle(`${t("auth.title")} · Leitstand`);
    const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, autofocus: true });
    const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
    const error = h("p", { class: "form-error", role: "alert", hidden: !message, id: "signin-error" }, message || "");
    if (message) error.classList.add("form-error--info");
    const submit = h("button", { class: "btn btn--primary btn--block", type: "submit" }, t("auth.sign_in"));
    const form = h(
      "form",
      {
        class: "signin__form",
        novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          error.hidden = true;
          error.classList.remove("form-error--info");
          if (!email.value.trim() || !password.value) {
            error.textContent = t("auth.missing");
            error.hidden = false;
            (email.value.trim() ? password : email).focus();
            return;
          }
          submit.disabled = true;
          submit.textContent = t("auth.signing_in");
          try {
            await api("auth/login", { method: "POST", body: { email: email.value.trim(), password: password.value }, quiet401: true });
            const me = await api("me");
            await onSignedIn(me, localeChosen);
          } catch (err) {
            error.textContent = err.status === 401 ? t("auth.wrong") : describeError(err);
            error.hidden = false;
            submit.disabled = false;
            submit.textContent = t("auth.sign_in");
            password.select();
          }
        },
      },
      h("h1", { id: "signin-title" }, t("auth.title")),
      h("p", { class: "muted" }, t("auth.intro")),
      error,
      field(t("auth.email"), email),
      field(t("auth.password"), password),
      submit,
    );
    const langSwitch = h(
      "div",
      { class: "segmented", role: "group", "aria-label": t("lang.label") },
      ["de", "en"].map((code) =>
        h(
          "button",
          {
            type: "button",
            class: "segmented__item",
            lang: code,
            "aria-pressed": String(locale() === code),
            onclick: async () => {
              if (code === locale()) return;
              await loadLocale(code);
              localeChosen = code;
              message = null;
              draw();
            },
          },
          code === "de" ? "Deutsch" : "English",
        ),
      ),
    );
    replace(
      root,
      h(
        "main",
        { class: "signin", "aria-labelledby": "signin-title" },
        h(
          "div",
          { class: "signin__card" },
          h("div", { class: "signin__brand" }, h("img", { src: "/static/icons/favicon.svg", alt: "", width: 36, height: 36 }), h("span", {}, "Leitstand")),
          form,
          h("div", { class: "signin__foot" }, icon("globe"), langSwitch),
        ),
      ),
    );
    root.classList.remove("boot");
    root.removeAttribute("aria-busy");
    email.focus();
  };
  draw();
}
