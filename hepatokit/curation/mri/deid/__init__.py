"""De-identification (PS3.15 basic profile): pseudonym keys (``keys``), NIfTI header
scrubbing (``nifti_scrub``), the PHI values of a build (``phi_values``) and its audit
(``phi_audit``).
"""
