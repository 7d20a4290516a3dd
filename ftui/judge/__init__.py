"""The judge (issue 13): a model plus a rubric scores interactions nobody rated.

- `rubrics`: the rubric of each reasoning mode (assets/rubrics/, overridable in
  $FTUI_HOME/rubrics/), each criterion scored 1-5 with a one-line rationale, with a version.
- `prompt`: the interaction goes in as delimited data; the rubric comes after it.
- `parse`: the reply as JSON (Ollama's `format` schema) or, failing that, a tolerant reading;
  a reply that cannot be read is a failed judgement, never a score.
- `run`: judging many interactions concurrently, cached by judge digest, options, rubric version
  and content hash, stored in the `judgement` table.
- `agreement`: how far the judge agrees with the human ratings (quadratic kappa, Spearman).
"""
