"""The dashboard's pages, one module per audience: `practice` (a learner answers items), `assess` (an
adaptive test), `teacher` (the class and each learner's report, with CSV downloads), `admin` (course,
roster, models and keys without curl). `base` holds what every page shares (sessions, CSRF, templates,
form fields); `charts` the Vega-Lite specs; `wording` what the pages say to people; `plan` the learner's
next steps; `answers` the queries over stored answers. `metatutor.service.dashboard` mounts them."""
