"""The planloop StateGraph: parse_goal, plan, then execute_step -> reflect -> decide_done loops."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from graph.routing import (
    route_after_approve_plan,
    route_after_decide_done,
    route_after_fill_args,
    route_after_parse_goal,
    route_after_plan,
)
from nodes.approve_plan import approve_plan
from nodes.context import Context
from nodes.decide import decide_done
from nodes.execute import execute_step
from nodes.fill_args import fill_args
from nodes.finish import finish
from nodes.parse_goal import parse_goal
from nodes.plan import plan
from nodes.reflect import reflect
from nodes.state import InputState, OutputState, State

PlanloopGraph = StateGraph[State, Context, InputState, OutputState]


def build_graph() -> PlanloopGraph:
    """The uncompiled graph; compile it with your own checkpointer and store."""
    builder: PlanloopGraph = StateGraph(
        State, context_schema=Context, input_schema=InputState, output_schema=OutputState
    )
    builder.add_node("parse_goal", parse_goal)
    builder.add_node("plan", plan)
    # Fed only by Send(StepTask), whose payload reaches the node as is. Declaring State as its
    # input keeps StepTask's fields out of the graph's channels (and Studio's state view);
    # langgraph's overloads only model nodes that take their declared input type.
    builder.add_node("execute_step", execute_step, input_schema=State)  # type: ignore[call-overload]
    builder.add_node("reflect", reflect)
    builder.add_node("decide_done", decide_done)
    builder.add_node("finish", finish)
    builder.add_edge(START, "parse_goal")
    builder.add_conditional_edges("parse_goal", route_after_parse_goal, ["plan", "finish"])
    builder.add_node("approve_plan", approve_plan)
    builder.add_conditional_edges("plan", route_after_plan, ["plan", "approve_plan", "finish"])
    builder.add_conditional_edges("approve_plan", route_after_approve_plan, ["plan", "decide_done"])
    builder.add_node("fill_args", fill_args)
    builder.add_conditional_edges(
        "decide_done", route_after_decide_done, ["execute_step", "fill_args", "plan", "finish"]
    )
    builder.add_conditional_edges("fill_args", route_after_fill_args, ["execute_step", "finish"])
    builder.add_edge("execute_step", "reflect")
    builder.add_edge("reflect", "decide_done")
    builder.add_edge("finish", END)
    return builder


graph: CompiledStateGraph[State, Context, InputState, OutputState] = build_graph().compile(
    name="planloop"
)
"""The compiled graph without a checkpointer, as served by `langgraph dev` (langgraph.json)."""


def with_storage(
    checkpointer: BaseCheckpointSaver[str], store: BaseStore | None = None
) -> CompiledStateGraph[State, Context, InputState, OutputState]:
    """The compiled `graph` bound to a checkpointer (and store), without compiling it again:
    compiling inspects every node's code, tens of milliseconds each run would pay."""
    return graph.copy(update={"checkpointer": checkpointer, "store": store})
