"""Guards: one object per guard (`base.Guard`), attached to an agent loop by `attach`.

`base` (the protocol, `guard_node`, settings, the ladder), `attach` (`attach_guards`,
`DEFAULT_GUARDS`), `policy` (`GuardPolicy`, every built-in guard's settings composed), one
module per guard, and the review gate (`review_gate`).
"""

__all__: list[str] = []
