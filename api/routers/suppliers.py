"""Routes under /suppliers (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/suppliers", tags=["suppliers"])
