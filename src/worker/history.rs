//! What the agent is given: referenced tasks' histories (same owner only), then the task's own.

use super::AgentInput;
use super::context::Context;
use crate::error::{Error, Result};
use crate::model::{Task, TaskId};
use crate::retry::Call;

/// Builds the agent's input. A referenced task that is missing or belongs to another owner is
/// left out (Bindu pulled other tenants' histories into the prompt).
pub(crate) async fn agent_input(ctx: &Context, task: Task) -> Result<AgentInput> {
    let mut references: Vec<TaskId> = Vec::new();
    for reference in task.history.iter().flat_map(|m| &m.reference_task_ids) {
        if *reference != task.id && !references.contains(reference) {
            references.push(*reference);
        }
    }
    let mut history = Vec::new();
    if !references.is_empty() {
        let owner = ctx.step(Call::GET_TASK_OWNER, || ctx.storage.get_task_owner(task.id)).await?;
        for reference in references {
            match ctx.step(Call::GET_TASK_OWNER, || ctx.storage.get_task_owner(reference)).await {
                Ok(referenced_owner) if referenced_owner == owner => {}
                Ok(_) => {
                    tracing::warn!(task = %task.id, reference = %reference, "reference to another owner's task left out");
                    continue;
                }
                Err(Error::NotFound { .. }) => continue,
                Err(err) => return Err(err),
            }
            if let Some(referenced) =
                ctx.step(Call::LOAD_TASK, || ctx.storage.load_task(reference, None)).await?
            {
                history.extend(referenced.history);
            }
        }
    }
    history.extend(task.history.iter().cloned());
    Ok(AgentInput { task, history })
}
