"""Partner API for bulk rewarding (rewards.bulk_grants): upload a CSV, follow its progress.

Idempotent by the file itself: the same file (byte for byte) uploaded again for the program
answers 200 with the first upload and grants nothing twice.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from rewards import bulk_grants
from rewards.models import BulkGrant


class BulkGrantOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    status = serializers.ChoiceField(choices=BulkGrant.Status.choices)
    rows = serializers.IntegerField(source="row_count")
    rows_done = serializers.IntegerField(help_text="Rows granted.")
    rows_failed = serializers.IntegerField(help_text="Rows whose reward could no longer be given (see failures).")
    rows_scheduled = serializers.IntegerField(help_text="Rows waiting for their send_at.")
    percent = serializers.IntegerField(help_text="Share of rows settled (granted or failed).")
    points_total = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    failures = serializers.ListField(
        child=inline_serializer(
            "BulkGrantFailure", {"line": serializers.IntegerField(), "error": serializers.CharField()}
        )
    )


def _output(bulk):
    state = bulk_grants.progress(bulk)
    failures = bulk.rows.exclude(error="").order_by("line").values("line", "error")[:100]
    return {
        "id": bulk.pk,
        "filename": bulk.filename,
        "status": bulk.status,
        "row_count": bulk.row_count,
        "rows_done": state["done"],
        "rows_failed": state["failed"],
        "rows_scheduled": state["scheduled"],
        "percent": state["percent"],
        "points_total": bulk.points_total,
        "created_at": bulk.created_at,
        "completed_at": bulk.completed_at,
        "failures": list(failures),
    }


class BulkGrantCreateApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer("BulkGrantUpload", {"file": serializers.FileField()}),
        },
        responses={201: BulkGrantOutputSerializer, 200: BulkGrantOutputSerializer},
        summary="Grant points or rewards to up to 10,000 customers from a CSV",
        description="Columns: customer, points or reward (a catalogue item id), reason, optional send_at (RFC 3339, "
        "or a date meaning 09:00 in the program's time zone). The whole file is validated first: any bad row -> "
        "400 listing every bad cell as rows.<line>.<column>, nothing created. The same file again -> 200 with the "
        "first upload. Rows are granted in batches by a worker; follow the progress with GET.",
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["Send the CSV as the multipart field 'file'."]})
        if upload.size > bulk_grants.MAX_BYTES:
            raise ValidationError({"file": [f"The file is larger than {bulk_grants.MAX_BYTES // (1024 * 1024)} MB."]})
        plan = bulk_grants.read_grants_csv(request.program, upload.read())
        if plan.errors:
            raise ValidationError(_errors_by_line(plan.errors))
        bulk, created = bulk_grants.create_bulk_grant(request.program, plan, filename=upload.name or "")
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(BulkGrantOutputSerializer(_output(bulk)).data, status=code)


def _errors_by_line(errors):
    """{"file": [...], "rows": {line: {column: [message]}}} for the one error shape."""
    detail = {}
    for error in errors:
        if error.line < 2:
            detail.setdefault("file", []).append(error.message)
        else:
            detail.setdefault("rows", {}).setdefault(str(error.line), {}).setdefault(error.field, []).append(
                error.message
            )
    return detail


class BulkGrantDetailApi(APIView):
    @extend_schema(responses={200: BulkGrantOutputSerializer}, summary="A bulk grant's progress and failed rows")
    def get(self, request, bulk_id):
        bulk = get_object_or_404(BulkGrant, program=request.program, pk=bulk_id)
        return Response(BulkGrantOutputSerializer(_output(bulk)).data)
