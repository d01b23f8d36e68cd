"""/api/v1/plans, /api/v1/jobs and /api/v1/policy"""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint, if_match_version
from . import schemas, services

blp = api_blueprint("distribution", __name__, "", "收益分配方案、四议两公开、公益岗位与县级设置 (distribution)")


def _etag(plan):
    return {"ETag": f'"{plan.version}"'}


# --- policy ---------------------------------------------------------------------------------------

@blp.route("/policy")
@blp.response(200, schemas.DistributionPolicy)
def get_policy():
    return services.get_policy(current_user)


@blp.route("/policy", methods=["PUT"])
@blp.arguments(schemas.DistributionPolicyIn)
@blp.response(200, schemas.DistributionPolicy)
def set_policy(data):
    policy = services.set_policy(current_user, data)
    db.session.commit()
    return policy


# --- plans ----------------------------------------------------------------------------------------

@blp.route("/plans")
@blp.arguments(schemas.PlanQuery, location="query")
@blp.response(200, schemas.PlanPage)
def list_plans(args):
    return services.list_plans(current_user, **args)


@blp.route("/plans", methods=["POST"])
@blp.arguments(schemas.PlanCreate)
@blp.response(201, schemas.Plan)
def create_plan(data):
    plan = services.create_plan(current_user, data)
    db.session.commit()
    return plan, 201, _etag(plan)


@blp.route("/plans/<int:plan_id>")
@blp.response(200, schemas.Plan)
def get_plan(plan_id):
    plan = services.get_plan(current_user, plan_id)
    return plan, 200, _etag(plan)


@blp.route("/plans/<int:plan_id>", methods=["PATCH"])
@blp.arguments(schemas.PlanUpdate)
@blp.response(200, schemas.Plan)
def update_plan(data, plan_id):
    plan = services.update_plan(current_user, plan_id, data, if_match=if_match_version())
    db.session.commit()
    return plan, 200, _etag(plan)


@blp.route("/plans/<int:plan_id>/allocations", methods=["PUT"])
@blp.arguments(schemas.PlanAllocationsIn)
@blp.response(200, schemas.Plan)
def set_allocations(data, plan_id):
    plan = services.set_allocations(current_user, plan_id, data["allocations"],
                                    version=data.get("version") or if_match_version())
    db.session.commit()
    return plan, 200, _etag(plan)


@blp.route("/plans/<int:plan_id>/fill", methods=["POST"])
@blp.arguments(schemas.PlanFillIn)
@blp.response(200, schemas.PlanFillResult)
def fill(data, plan_id):
    """Preview (default) or apply a fill of one allocation's household lines."""
    data.setdefault("version", if_match_version())
    result = services.fill(current_user, plan_id, data)
    if result["applied"]:
        db.session.commit()
    return result


@blp.route("/plans/<int:plan_id>/steps")
@blp.response(200, schemas.PlanStep(many=True))
def list_steps(plan_id):
    return services.list_steps(current_user, plan_id)


@blp.route("/plans/<int:plan_id>/steps", methods=["POST"])
@blp.arguments(schemas.PlanStepIn)
@blp.response(201, schemas.PlanStepRecorded)
def record_step(data, plan_id):
    data.setdefault("version", if_match_version())
    step = services.record_step(current_user, plan_id, data)
    db.session.commit()
    return step


@blp.route("/plans/<int:plan_id>/objections")
@blp.response(200, schemas.PlanObjection(many=True))
def list_objections(plan_id):
    return services.list_objections(current_user, plan_id)


@blp.route("/plans/<int:plan_id>/objections", methods=["POST"])
@blp.arguments(schemas.PlanObjectionIn)
@blp.response(201, schemas.PlanObjection)
def record_objection(data, plan_id):
    objection = services.record_objection(current_user, plan_id, data)
    db.session.commit()
    return objection


@blp.route("/plans/<int:plan_id>/objections/<int:objection_id>/answer", methods=["POST"])
@blp.arguments(schemas.PlanObjectionAnswerIn)
@blp.response(200, schemas.PlanObjection)
def answer_objection(data, plan_id, objection_id):
    objection = services.answer_objection(current_user, plan_id, objection_id, data)
    db.session.commit()
    return objection


# --- public-welfare jobs --------------------------------------------------------------------------

@blp.route("/jobs")
@blp.arguments(schemas.PublicJobQuery, location="query")
@blp.response(200, schemas.PublicJobPage)
def list_jobs(args):
    return services.list_jobs(current_user, **args)


@blp.route("/jobs", methods=["POST"])
@blp.arguments(schemas.PublicJobCreate)
@blp.response(201, schemas.PublicJob)
def create_job(data):
    job = services.create_job(current_user, data)
    db.session.commit()
    return job


@blp.route("/jobs/<int:job_id>")
@blp.response(200, schemas.PublicJob)
def get_job(job_id):
    return services.get_job(current_user, job_id)


@blp.route("/jobs/<int:job_id>/attendance", methods=["POST"])
@blp.arguments(schemas.JobAttendanceIn)
@blp.response(200, schemas.PublicJob)
def record_attendance(data, job_id):
    job = services.record_attendance(current_user, job_id, data["entries"])
    db.session.commit()
    return job
