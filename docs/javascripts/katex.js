// Renders the math of the formulation pages with KaTeX: only what pymdownx.arithmatex marked
// (generic mode wraps it as \( … \) and \[ … \] in .arithmatex elements), never a stray "$" of
// the prose ("283.00 $ … 12 $").
document$.subscribe(() => {
  for (const el of document.querySelectorAll(".arithmatex")) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
    })
  }
})
