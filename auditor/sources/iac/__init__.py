"""What the ARM, Bicep and Terraform readers share: values that may be unknown, one expression
evaluator, and the lowering of evaluated resources to the ARM-shaped dicts
:func:`auditor.sources.resources.build` reads.

Every reader parses its language with a real grammar (``json``, tree-sitter-bicep,
tree-sitter-hcl) into the expression nodes of :mod:`.expr`, evaluates them in a scope of its own
(parameters, variables, locals, module inputs, loop variables) and hands every resource to
:func:`.lower.resource`. A value nothing offline can compute is an :class:`.values.Unknown`
carrying its expression, why, and where; it never becomes a guess.
"""
