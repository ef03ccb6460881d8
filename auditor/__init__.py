"""attribution-auditor: audits the chain that attributes Azure OpenAI token usage to teams."""

__version__ = "0.1.0"
