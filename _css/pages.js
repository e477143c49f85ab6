// A folded solution's bar: its words "Solution to Exercise 7.1" link to the exercise. pages.css
// stops a click or tap on them; here the link also leaves the keyboard's tab order, and Enter on
// it does nothing (an outside review found Enter followed it): the bar's button opens the solution.
// Jupyter Book 1 links every .js file of html_static_path by itself.
document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("div.solution.dropdown > .admonition-title a.reference")) {
    link.setAttribute("tabindex", "-1");
    link.addEventListener("click", (event) => event.preventDefault());
  }
});
