"""content/*.md -> `Page`: front matter, figure blocks (kept as raw specs), links, math, variables,
Markdown. Knows no figure type: `generator.figures` checks the blocks."""
