"""Plans (rencana pendampingan) and activity progress (realisasi)."""
