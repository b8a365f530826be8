"""A two-step model for the script findings: a user task, then a script task, then a second user
task. Each test deploys it with the script under test, then a fixed version to migrate to."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

from engine.core import definitions
from engine.core.db import Database

KEY = "script_probe"
FORM = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"note": {"type": "string"}}, "examples": [{"note": "x"}]}

_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_probe"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="script_probe" name="脚本探针" isExecutable="true">
    <bpmn:laneSet id="LaneSet_p">
      <bpmn:lane id="Lane_p" name="clerk">
        <bpmn:flowNodeRef>p_start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fill</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>compute</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>check</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>p_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="p_start" />
    <bpmn:userTask id="fill" name="填写">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="probe.schema.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:scriptTask id="compute" name="计算"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="check" name="核对">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="probe.schema.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:endEvent id="p_end" />
    <bpmn:sequenceFlow id="p_f1" sourceRef="p_start" targetRef="fill" />
    <bpmn:sequenceFlow id="p_f2" sourceRef="fill" targetRef="compute" />
    <bpmn:sequenceFlow id="p_f3" sourceRef="compute" targetRef="check" />
    <bpmn:sequenceFlow id="p_f4" sourceRef="check" targetRef="p_end" />
  </bpmn:process>
</bpmn:definitions>
"""


def deploy(db: Database, tmp_path: Path, script: str) -> definitions.DeployResult:
    """Deploy the model with `script` in its script task (a new version when the script changes)."""
    forms = tmp_path / "probe_forms"
    forms.mkdir(exist_ok=True)
    (forms / "probe.schema.json").write_text(json.dumps(FORM), encoding="utf-8")
    files = {"script_probe.bpmn": _BPMN.replace("{script}", escape(script)).encode()}
    [result] = definitions.deploy_files(db, files, forms_dir=forms, note="script probe")
    return result
