"""EPMD's REPMD on the classic algorithmic tasks, against MENT and UREX, on one skeleton.

REPMD needs no value function: it samples K trajectories rho_k ~ pi_theta of a recurrent policy on
each input and fits pi_theta to a target built from their returns. The agents share the policy,
the sampling, the curriculum, evaluation and checkpoints, and differ only in their loss (all in
:mod:`rlrepro.epmd.losses`; r_k the returns and log pi_k the log-probabilities of an input's K samples):

===============  ===================================================================================
agent            loss per input
===============  ===================================================================================
REPMD            -sum_k w_k log pi_k,  w = softmax((r - tau' log pi) / (tau + tau'))  (seed eqs. 3, 4, 6)
MENT             -mean_k (R_k - mean_j R_j) log pi_k,  R = r - tau log pi   (UREX paper's MENT)
UREX             -mean_k (r_k - mean_j r_j) log pi_k - tau sum_k u_k log pi_k,  u = softmax(r / tau - log pi)
MENTStepEntropy  -mean_k (r_k - mean_j r_j) log pi_k - tau H   (a per-step entropy bonus; a variant)
===============  ===================================================================================

Conventions:

* Policy: a GRU whose input at step t is the one-hot observation and the one-hot previous action
  (zeros at t = 0), with three categorical heads (move, write, symbol).
* An action's probability is that of what the environment sees, p(move) p(write) p(symbol)^write:
  a symbol drawn with write = 0 changes nothing, so it is left out of the log-probabilities, of the
  entropy (H(move) + H(write) + p(write = 1) H(symbol)) and of the next step's input.
* Batches: each update draws ``inputs_per_batch`` inputs from the training env and plays each
  ``samples_per_input`` times in a row on its own copy of the env (``reset(options={"repeat_input":
  True})`` between attempts); the copies step together, so the policy runs on a batch. One gradient
  step per batch, so the policy that sampled is the pi_bar of the mirror-descent step.
* Curriculum (``curriculum_counting``): the classic suite plays one episode per freshly drawn input
  and enters its shortfall (return - target length) in the window. With K samples per input, the
  default ``"first_sample"`` keeps exactly that statistic: one entry per input, the shortfall of its
  first sample (a draw of the sampling policy, not the best of K, so no lucky promotions), and the
  window then judges as many distinct inputs as gym's. ``"episode"`` enters every sample (the K
  samples of one input fill a window of 10: fewer distinct inputs than gym); ``"input_mean"``
  enters each input's mean shortfall over its K samples (a failed sample falls short by at least
  1.5, so with the threshold -0.1 of Reverse and RepeatCopy and K < 15 every one of the 50 x K
  samples must be perfect: 10 times gym's demand when K = 10). Entries stop at a promotion: the rest
  of the batch was drawn at the old length.
* Budget: environment steps summed over all sampled trajectories (evaluation not counted). Rows are
  labelled with multiples of ``eval_interval`` (aligned across runs) and written at the first batch
  boundary at or after them; ``env_steps`` has the exact count.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlrepro.core.loop import Bookkeeping, ConfigFields, TrainState, Window, check_finite
from rlrepro.envs.algorithmic import ENV_CLASSES, TASKS, AlgorithmicEnv
from rlrepro.epmd import losses

# TrainState is imported so that checkpoints pickled as rlrepro.epmd.algorithmic.TrainState still load.


CURRICULUM_COUNTINGS = ("first_sample", "episode", "input_mean")
"""Values of ``PolicyGradientConfig.curriculum_counting``."""


@dataclass
class PolicyGradientConfig(ConfigFields):
    """Hyperparameters of the sequence agents (every field is a config override key).

    The EPMD paper gives none; UREX (Nachum et al. 2017) ran its algorithmic tasks with K = 10
    samples per input and an RNN of 128 units, as recalled (not checked here). The rest is ours,
    set by short runs on Copy.
    """

    hidden_size: int = 128
    """GRU units (UREX: 128, recalled)."""
    learning_rate: float = 1e-2
    """Adam learning rate (ours; in UREX's grid {0.1, 0.01, 0.001}, recalled)."""
    inputs_per_batch: int = 16
    """Distinct inputs per gradient step (ours)."""
    samples_per_input: int = 10
    """K, trajectories sampled per input (UREX: 10, recalled)."""
    tau: float = 0.1
    """REPMD's tau, the weight of KL(pi || pi_bar) in seed eq. 3 (ours; open in the paper)."""
    tau_prime: float = 0.01
    """REPMD's tau', the weight of the entropy bonus in seed eq. 3 (ours; open in the paper)."""
    entropy_coef: float = 0.01
    """MENT's tau, the weight of the trajectory entropy: of -tau log pi(rho) in each return (MENT), or
    of the summed per-step entropies (MENTStepEntropy) (ours)."""
    urex_tau: float = 0.1
    """UREX's tau, the temperature and weight of its exploration term (ours)."""
    grad_clip: float = 10.0
    """Gradients are clipped to this global L2 norm (ours)."""
    curriculum_counting: str = "first_sample"
    """What enters the curriculum's window (see the module docstring): "first_sample", one entry per
    input, its first sample's shortfall (gym's statistic: one policy episode per distinct input),
    "episode", every sample's shortfall, or "input_mean", the mean shortfall of its K samples."""

    def __post_init__(self):
        if self.hidden_size < 1 or self.inputs_per_batch < 1:
            raise ValueError("hidden_size and inputs_per_batch must be >= 1")
        if self.samples_per_input < 2:
            raise ValueError("samples_per_input must be >= 2: the weights and baselines compare an input's samples")
        if self.tau + self.tau_prime <= 0 or self.urex_tau <= 0:
            raise ValueError("need tau + tau_prime > 0 and urex_tau > 0")
        if self.curriculum_counting not in CURRICULUM_COUNTINGS:
            raise ValueError(f"curriculum_counting must be one of {', '.join(CURRICULUM_COUNTINGS)}, "
                             f"got {self.curriculum_counting!r}")


@dataclass
class AlgorithmicBudget:
    """How long to train and how to evaluate."""

    total_steps: int = 200_000
    """Environment steps per run, summed over all sampled trajectories."""
    eval_interval: int = 10_000
    """Environment steps between metrics rows."""
    eval_episodes: int = 20
    """Greedy episodes per row, on fresh inputs at the current curriculum length."""
    checkpoint_interval: int = 50_000
    """A checkpoint is taken at the first batch boundary after every this many steps."""

    def __post_init__(self):
        if self.eval_interval > self.total_steps:
            raise ValueError(f"eval_interval ({self.eval_interval}) must not exceed total_steps ({self.total_steps})")
        if min(self.eval_interval, self.eval_episodes, self.checkpoint_interval) < 1:
            raise ValueError("eval_interval, eval_episodes and checkpoint_interval must be >= 1")


# ------------------------------------------------------------------------------------------ policy

@dataclass
class Episodes:
    """Trajectories, time-major and padded after their end; trajectory ``i * K + k`` is attempt k at input i."""

    observations: torch.Tensor
    """[T, B] the observation before each action."""
    actions: torch.Tensor
    """[T, B, 3] (move, write, symbol)."""
    lengths: torch.Tensor
    """[B] steps of each trajectory."""
    returns: torch.Tensor
    """[B] undiscounted returns."""
    solved: torch.Tensor
    """[B] True where the whole target was written."""

    @property
    def steps(self) -> int:
        return int(self.lengths.sum())


class RNNPolicy(nn.Module):
    """GRU over (one-hot observation, one-hot previous action), three categorical heads."""

    def __init__(self, n_observations: int, action_sizes: Sequence[int], hidden_size: int):
        super().__init__()
        n_observations = int(n_observations)
        self.action_sizes = tuple(int(n) for n in action_sizes)  # (n_moves, 2, base)
        n_moves = self.action_sizes[0]
        self.offsets = (0, n_observations, n_observations + n_moves, n_observations + n_moves + 2)
        self.input_size = n_observations + sum(self.action_sizes)
        self.gru = nn.GRU(self.input_size, hidden_size)
        self.head = nn.Linear(hidden_size, sum(self.action_sizes))

    def inputs(self, observation: torch.Tensor, previous: torch.Tensor, follows: torch.Tensor) -> torch.Tensor:
        """Multi-hot step input [..., input_size]; ``follows`` is False where there is no previous action."""
        index = torch.stack([observation, previous[..., 0], previous[..., 1], previous[..., 2]], -1)
        index = index + index.new_tensor(self.offsets)
        value = torch.stack([torch.ones_like(follows), follows, follows, follows & (previous[..., 1] == 1)], -1)
        return torch.zeros(*observation.shape, self.input_size).scatter_(-1, index, value.float())

    def forward(self, x, hidden: torch.Tensor | None = None):
        """GRU outputs mapped to the three heads' logits, concatenated (x a tensor [T, B, input_size]
        or a PackedSequence, whose rows come back flat), and the GRU state."""
        out, hidden = self.gru(x, hidden)
        packed = isinstance(out, nn.utils.rnn.PackedSequence)
        return self.head(out.data if packed else out), hidden

    @torch.no_grad()
    def act(self, logits: torch.Tensor, greedy: bool) -> torch.Tensor:
        """[B, 3] actions: each head's argmax, or a sample (Gumbel-max: argmax of logits - log E, E ~ Exp(1))."""
        if not greedy:
            logits = logits - torch.empty_like(logits).exponential_().log()
        return torch.stack([part.argmax(-1) for part in logits.split(self.action_sizes, -1)], -1)

    def log_prob_and_entropy(self, episodes: Episodes) -> tuple[torch.Tensor, torch.Tensor]:
        """Per trajectory [B]: log pi(rho) and the sum of its steps' entropies (see the module's conventions).

        The GRU runs on the packed trajectories, so padding costs nothing."""
        actions, lengths = episodes.actions, episodes.lengths
        horizon, batch = actions.shape[:2]
        previous = torch.cat([torch.zeros_like(actions[:1]), actions[:-1]])
        follows = (torch.arange(horizon) > 0)[:, None].expand(horizon, batch)
        x = self.inputs(episodes.observations, previous, follows)

        def pack(tensor):  # every tensor packs in the same order, as the lengths are the same
            return nn.utils.rnn.pack_padded_sequence(tensor, lengths, enforce_sorted=False).data

        logits, _ = self(nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False))
        actions, trajectory = pack(actions), pack(torch.arange(batch).expand(horizon, batch))
        log_p = [F.log_softmax(part, -1) for part in logits.split(self.action_sizes, -1)]
        chosen = [lp.gather(-1, actions[:, i, None]).squeeze(-1) for i, lp in enumerate(log_p)]
        entropy = [-(lp.exp() * lp).sum(-1) for lp in log_p]
        step_log_prob = chosen[0] + chosen[1] + actions[:, 1] * chosen[2]
        step_entropy = entropy[0] + entropy[1] + log_p[1][:, 1].exp() * entropy[2]
        zeros = torch.zeros(batch)
        return zeros.index_add(0, trajectory, step_log_prob), zeros.index_add(0, trajectory, step_entropy)


# ----------------------------------------------------------------------------------------- rollouts

@torch.no_grad()
def play(policy: RNNPolicy, envs: list[AlgorithmicEnv], first_observations: list[int], attempts: int,
         greedy: bool) -> Episodes:
    """``attempts`` episodes on each env's current input; trajectory ``i * attempts + k`` is env i's k-th.

    The first attempt continues the episode each env has just started; each next one replays the
    input (``reset(options={"repeat_input": True})``) as soon as the previous one ends. The policy
    runs on all envs at once, one step at a time.
    """
    n = len(envs)
    horizon = max(env.max_episode_steps for env in envs)
    # Recorded in numpy (an item or fancy-index write costs less there than in torch), handed over at the end.
    observations = np.zeros((horizon, n * attempts), dtype=np.int64)
    actions = np.zeros((horizon, n * attempts, 3), dtype=np.int64)
    lengths, returns, solved = [0] * (n * attempts), [0.0] * (n * attempts), [False] * (n * attempts)
    attempt, t = [0] * n, np.zeros(n, dtype=np.int64)  # per env: attempt, its step
    obs = np.array(first_observations, dtype=np.int64)  # per env: observation
    hidden, action = None, torch.zeros(n, 3, dtype=torch.long)
    live = list(range(n))
    while live:
        x = policy.inputs(torch.from_numpy(obs), action, torch.from_numpy(t > 0))
        logits, hidden = policy(x[None], hidden)
        action = policy.act(logits[0], greedy)
        trajectories = [j * attempts + attempt[j] for j in live]
        steps = t[live]
        observations[steps, trajectories] = obs[live]
        live_actions = action.numpy()[live]
        actions[steps, trajectories] = live_actions
        restarted = []
        for j, k, a in zip(live, trajectories, live_actions.tolist()):
            env = envs[j]
            obs[j], reward, terminated, truncated, info = env.step(a)
            returns[k] += reward
            t[j] += 1
            if terminated or truncated:
                lengths[k], solved[k] = int(t[j]), info["solved"]
                attempt[j] += 1
                if attempt[j] < attempts:
                    obs[j], t[j] = env.reset(options={"repeat_input": True})[0], 0
                    restarted.append(j)
        if restarted:
            hidden[:, restarted] = 0.0
        live = [j for j in live if attempt[j] < attempts]
    horizon = max(lengths)
    return Episodes(torch.from_numpy(observations[:horizon]), torch.from_numpy(actions[:horizon]),
                    torch.tensor(lengths), torch.tensor(returns), torch.tensor(solved))


def sample_batch(policy: RNNPolicy, env: AlgorithmicEnv, n_inputs: int, samples: int) -> tuple[Episodes, list[int]]:
    """Draw ``n_inputs`` inputs from ``env`` and sample ``samples`` trajectories on each (on replicas of
    ``env``, which itself plays nothing); returns them with each input's target length."""
    copies, first_observations = [], []
    for _ in range(n_inputs):
        obs, _ = env.reset()
        copies.append(env.replica())
        first_observations.append(obs)
    episodes = play(policy, copies, first_observations, samples, greedy=False)
    return episodes, [len(c.target) for c in copies]


def evaluate(policy: RNNPolicy, envs: list[AlgorithmicEnv], min_length: int, seed_key: list[int]) -> Episodes:
    """One greedy episode per env on fresh inputs at curriculum length ``min_length`` (lengths drawn
    as in training); env k's input comes from a seed derived from (seed_key, k), so a snapshot is a
    pure function of the policy."""
    observations = []
    for k, env in enumerate(envs):
        env.load_curriculum_state({"min_length": min_length, "shortfalls": []})
        seed = int(np.random.SeedSequence([*seed_key, k]).generate_state(1)[0])
        observations.append(env.reset(seed=seed)[0])
    return play(policy, envs, observations, 1, greedy=True)


# ------------------------------------------------------------------------------------------ agents

class Agent:
    """The policy, its optimiser and one gradient step per batch; subclasses define ``loss``."""

    def __init__(self, n_observations: int, action_sizes: Sequence[int], cfg: PolicyGradientConfig):
        self.cfg = cfg
        self.policy = RNNPolicy(n_observations, action_sizes, cfg.hidden_size)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.learning_rate)
        self.updates = 0

    def loss(self, returns: torch.Tensor, log_probs: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        """The scalar to minimise, from [n_inputs, K] returns, log pi(rho) and trajectory entropies."""
        raise NotImplementedError

    def update(self, episodes: Episodes) -> dict[str, float]:
        log_probs, entropy = self.policy.log_prob_and_entropy(episodes)
        shape = (-1, self.cfg.samples_per_input)
        loss = self.loss(episodes.returns.view(shape), log_probs.view(shape), entropy.view(shape))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.updates += 1
        return {"loss": loss.item(), "entropy": entropy.sum().item() / episodes.steps, "grad_norm": grad_norm.item()}

    def state_dict(self) -> dict:
        return {"updates": self.updates, "policy": copy.deepcopy(self.policy.state_dict()),
                "optimizer": copy.deepcopy(self.optimizer.state_dict())}

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])


class REPMD(Agent):
    """Reversed-entropy policy mirror descent: the reversed-KL projection onto seed eq. 4's target."""

    def loss(self, returns, log_probs, entropy):
        weights = losses.repmd_target_weights(returns, log_probs, self.cfg.tau, self.cfg.tau_prime)
        return losses.reversed_kl_projection_loss(weights, log_probs)


class MENT(Agent):
    """MENT as Nachum et al. (2017) define it: REINFORCE on r - tau log pi(rho), the sequence-level
    entropy term in each sample's return, with a per-input mean baseline (``losses.ment_loss``)."""

    def loss(self, returns, log_probs, entropy):
        return losses.ment_loss(returns, log_probs, self.cfg.entropy_coef)


class MENTStepEntropy(Agent):
    """A weaker variant of MENT: REINFORCE with a per-input mean-return baseline plus a bonus on the
    summed per-step entropies (``losses.entropy_regularised_pg_loss``); what MENT was here before."""

    def loss(self, returns, log_probs, entropy):
        baseline = returns.mean(-1, keepdim=True)
        return losses.entropy_regularised_pg_loss(returns, log_probs, entropy, self.cfg.entropy_coef, baseline)


class UREX(Agent):
    """Under-appreciated reward exploration (Nachum et al. 2017): REINFORCE (no entropy bonus) plus
    tau times the projection onto softmax(r / tau)."""

    def loss(self, returns, log_probs, entropy):
        reinforce = losses.reinforce_loss(returns, log_probs, returns.mean(-1, keepdim=True))
        weights = losses.urex_weights(returns, log_probs, self.cfg.urex_tau)
        return reinforce + self.cfg.urex_tau * losses.reversed_kl_projection_loss(weights, log_probs)


AGENTS: dict[str, type[Agent]] = {"REPMD": REPMD, "MENT": MENT, "UREX": UREX, "MENTStepEntropy": MENTStepEntropy}


def make_env(task: str) -> AlgorithmicEnv:
    """The task by its short name (one of ``TASKS``), with its default settings."""
    if task not in ENV_CLASSES:
        raise ValueError(f"unknown algorithmic task {task!r}; allowed: {', '.join(TASKS)}")
    return ENV_CLASSES[task]()


def make_agent(name: str, env: AlgorithmicEnv, cfg: PolicyGradientConfig) -> Agent:
    """``AGENTS[name]`` sized for ``env``'s spaces (seed torch first: it draws the initial weights)."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; allowed: {', '.join(AGENTS)}")
    return AGENTS[name](env.observation_space.n, [space.n for space in env.action_space], cfg)


# ---------------------------------------------------------------------------------- training loop

def record_curriculum(env: AlgorithmicEnv, returns: torch.Tensor, target_lengths: list[int], counting: str) -> None:
    """Enter a batch's shortfalls ([n_inputs, K] returns) in ``env``'s curriculum, as ``counting`` says
    (module docstring). The env counts the episodes that end on it; these ended on its copies."""
    per_input = {"first_sample": returns[:, :1], "episode": returns,
                 "input_mean": returns.mean(1, keepdim=True)}[counting]
    length = env.min_length
    for input_returns, target_length in zip(per_input.tolist(), target_lengths):
        for episode_return in input_returns:
            env.record_shortfall(episode_return - target_length)
            if env.min_length != length:  # the rest of the batch was drawn at the old length
                return


def train(
    agent: Agent,
    env: AlgorithmicEnv,
    budget: AlgorithmicBudget,
    seed: int,
    resume: TrainState | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train on ``env`` (which draws the inputs and holds the curriculum) for ``budget.total_steps``
    environment steps; one metrics row per ``eval_interval``.

    Raises :class:`~rlrepro.core.loop.Diverged` (with the rows so far) at the first batch whose loss or gradient norm
    is non-finite. Checkpoints are taken between batches.
    """
    cfg = agent.cfg
    book = Bookkeeping(budget, resume, on_checkpoint, on_progress)
    torch.manual_seed(seed)  # sampling; the initial weights were drawn before
    env.reset(seed=seed)  # seeds the input stream (this episode is never played, so never counted)
    eval_envs = [copy.deepcopy(env) for _ in range(budget.eval_episodes)]
    if resume is not None:
        agent.load_state_dict(resume.agent)
        torch.set_rng_state(resume.rng["torch"])
        env.np_random.bit_generator.state = resume.rng["env"]
        env.load_curriculum_state(resume.env)
    window, step, labels = Window(resume.window if resume else None), book.start, row_labels(budget, len(book.rows))
    with book:
        while step < budget.total_steps:
            episodes, target_lengths = sample_batch(agent.policy, env, cfg.inputs_per_batch, cfg.samples_per_input)
            record_curriculum(env, episodes.returns.view(-1, cfg.samples_per_input), target_lengths,
                              cfg.curriculum_counting)
            stats = agent.update(episodes)
            step += episodes.steps
            check_finite(step, loss=stats["loss"], grad_norm=stats["grad_norm"])
            window.add({"train_return": episodes.returns.sum().item(), "train_solve_rate": int(episodes.solved.sum())},
                       count=len(episodes.returns))
            window.add({"loss": stats["loss"], "entropy": stats["entropy"]})

            while labels and step >= labels[0]:
                label = labels.pop(0)
                result = evaluate(agent.policy, eval_envs, env.min_length, [seed, label])
                book.log({"step": label, "env_steps": step, "updates": agent.updates,
                          **{key: window.mean(key) for key in ("train_return", "train_solve_rate")},
                          "train_episodes": window.count("train_return"),
                          **{key: window.mean(key) for key in ("loss", "entropy")},
                          "curriculum_length": env.min_length, "eval_return": result.returns.double().mean().item(),
                          "eval_solve_rate": result.solved.double().mean().item()},
                         label - (book.rows[-1]["step"] if book.rows else 0))
                window = Window()
            if book.checkpoint_due(step):
                book.checkpoint(step, agent=agent.state_dict(), window=window.state_dict(), env=env.curriculum_state(),
                                rng={"torch": torch.get_rng_state(),
                                     "env": copy.deepcopy(env.np_random.bit_generator.state)})
    return book.rows


def row_labels(budget: AlgorithmicBudget, rows_written: int) -> list[int]:
    """The steps that label the metrics rows still to write: the multiples of ``eval_interval``, and the last step."""
    labels = [*range(budget.eval_interval, budget.total_steps + 1, budget.eval_interval)]
    if labels[-1] != budget.total_steps:
        labels.append(budget.total_steps)
    return labels[rows_written:]


def make_trainer(spec: dict):
    """(train function, total steps, device description) for a REPMD/baseline run."""
    torch.use_deterministic_algorithms(True)
    env = make_env(spec["env"])
    torch.manual_seed(spec["seed"])  # the initial networks depend on the seed alone
    agent = make_agent(spec["agent"], env, PolicyGradientConfig(**spec["agent_config"]))
    budget = AlgorithmicBudget(**spec["budget"])

    def fit(**kwargs):
        return train(agent, env, budget, spec["seed"], **kwargs)

    return fit, budget.total_steps, f"cpu (torch {torch.__version__}, torch threads: {torch.get_num_threads()})"
