"""The facilitators' field app (apps/field/): its enrolment, its worklist and the static shell."""
