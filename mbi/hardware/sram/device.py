"""Read-port transistors and bit lines of the 10T SRAM cell: drive, discharge and V_TH variation.

Current model of one NMOS (gate at V_dd): the alpha-power law of Sakurai and Newton,
``I_sat = I_on * (V_ov / V_ov,nom)**alpha``, with ``V_ov`` the gate overdrive
``V_dd - V_TH`` smoothed EKV-style (``2 n phi_t ln(1 + exp(V_ov / (2 n phi_t)))``) so a
cell pushed near or past threshold by variation still conducts its subthreshold
current instead of a negative one. Saturation voltage ``V_DSAT ∝ V_ov**(alpha/2)``;
below it the current follows ``I_sat (2 - V/V_DSAT) V/V_DSAT``. Two transistors in
series combine like resistors (harmonic sum of currents). What this model leaves
out: leakage of off paths, sum-line parasitic capacitance (it scales every level
alike), variation of the PMOS precharge and transmission gates (a settled
precharge and charge share do not depend on their strength), and ADC noise.

Process variation is a property of the physical cells: each transistor's V_TH is
drawn once (per seed) and stays with its cell, whatever query is applied.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

THERMAL_VOLTAGE_V = 0.02585
"""kT/q at 300 K."""
I_ON_REFERENCE_LENGTH_NM = 16.0
"""Channel length at which ``SRAMConfig.i_on_a_per_um`` is quoted (the 16 nm node)."""


def check_number(owner: str, name: str, value: Any, lo: float, hi: float, unit: str,
                  lo_open: bool = False, hi_open: bool = False) -> None:
    """Raise a ValueError naming the parameter, its value and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ValueError(f"{owner}.{name} = {value!r} is out of range: allowed {left}{lo:g}, {hi:g}{right} {unit}")


def check_integer(owner: str, name: str, value: Any, lo: int, hi: int) -> None:
    """Raise a ValueError unless ``value`` is an int in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}.{name} must be an integer, got {value!r}")
    if value < lo or value > hi:
        raise ValueError(f"{owner}.{name} = {value} is out of range: allowed [{lo}, {hi}]")


@dataclass(frozen=True)
class SRAMConfig:
    """Every electrical and architectural knob of the search array, validated on creation.

    Defaults describe the paper's 16 nm operating point; where each value comes from:

    - ``vdd_v`` 0.9 V: nominal supply of the PTM 16 nm low-power model card (paper ref. [10]).
    - ``v_p_max_v`` 0.9 V: precharge of MSB columns, taken from the supply (so <= ``vdd_v``).
    - ``bitline_cap_per_cell_f`` 0.15 fF: our estimate of one cell's share of a bit line
      (read-port drain junctions plus ~0.25 um of minimum-pitch metal); 32 rows give 4.8 fF.
    - ``discharge_time_s`` 2 ns: evaluate phase, sized so a stack with both NMOS at
      V_TH + 3 sigma (0.86 V) still pulls a ``V_P,max`` column below 10 % (it needs 1.9 ns;
      a nominal stack needs 0.5 ns, see :func:`nominal_discharge_v`). Shorter windows leave
      slow cells half-discharged and close the gaps between levels.
    - ``vth_nominal_v`` 0.68 V: ``vth0`` of the PTM 16 nm LP NMOS (0.68191 V).
    - ``width_nm`` x ``length_nm`` 32 x 16 nm: minimum-size read-port NMOS, as the paper simulates.
    - ``i_on_a_per_um`` 0.5 mA/um: saturation current per um of width at V_GS = V_dd and
      nominal V_TH, in the range of ITRS low-standby-power drive currents (our estimate).
    - ``alpha`` 1.3: alpha-power-law exponent for velocity-saturated short channels (1.2-1.4).
    - ``slope_factor`` 1.6: subthreshold slope factor n (PTM 16 nm LP ``nfactor``).
    - ``sigma_vth_v`` 60 mV: per-transistor V_TH spread the paper simulates (Fig. 6(b));
      Pelgrom's law with A_VT ~ 1.4 mV um gives this at 32 x 16 nm.
    - ``rows`` x ``cols`` 32 x 32: the paper's array.
    - ``adc_bits`` 5: the paper's ADC.
    """

    vdd_v: float = 0.9
    v_p_max_v: float = 0.9
    bitline_cap_per_cell_f: float = 0.15e-15
    discharge_time_s: float = 2e-9
    vth_nominal_v: float = 0.68
    width_nm: float = 32.0
    length_nm: float = 16.0
    i_on_a_per_um: float = 0.5e-3
    alpha: float = 1.3
    slope_factor: float = 1.6
    sigma_vth_v: float = 0.06
    rows: int = 32
    cols: int = 32
    adc_bits: int = 5

    def __post_init__(self) -> None:
        own = "SRAMConfig"
        check_number(own, "vdd_v", self.vdd_v, 0.0, 2.0, "V", lo_open=True)
        check_number(own, "v_p_max_v", self.v_p_max_v, 0.0, self.vdd_v, "V (0 < V_P,max <= vdd_v)", lo_open=True)
        check_number(own, "bitline_cap_per_cell_f", self.bitline_cap_per_cell_f, 0.0, 1e-12, "F", lo_open=True)
        check_number(own, "discharge_time_s", self.discharge_time_s, 0.0, 1e-6, "s", lo_open=True)
        check_number(own, "vth_nominal_v", self.vth_nominal_v, 0.0, self.vdd_v, "V (below vdd_v)",
                      lo_open=True, hi_open=True)
        check_number(own, "width_nm", self.width_nm, 1.0, 10_000.0, "nm")
        check_number(own, "length_nm", self.length_nm, 1.0, 10_000.0, "nm")
        check_number(own, "i_on_a_per_um", self.i_on_a_per_um, 0.0, 1e-2, "A/um", lo_open=True)
        check_number(own, "alpha", self.alpha, 1.0, 2.0, "")
        check_number(own, "slope_factor", self.slope_factor, 1.0, 3.0, "")
        check_number(own, "sigma_vth_v", self.sigma_vth_v, 0.0, 0.3, "V")
        check_integer(own, "rows", self.rows, 1, 4096)
        check_integer(own, "cols", self.cols, 1, 4096)
        check_integer(own, "adc_bits", self.adc_bits, 1, 16)

    @property
    def bitline_cap_f(self) -> float:
        """Capacitance of one bit line: every row's cell hangs on it."""
        return self.rows * self.bitline_cap_per_cell_f

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)





def _smooth_overdrive(vov: np.ndarray, slope_factor: float) -> np.ndarray:
    """EKV-style overdrive: ~V_ov above threshold, exponentially small (never negative) below."""
    s = 2.0 * slope_factor * THERMAL_VOLTAGE_V
    return s * np.logaddexp(0.0, np.asarray(vov, dtype=np.float64) / s)


def device_drive(vth_v: np.ndarray, config: SRAMConfig) -> tuple[np.ndarray, np.ndarray]:
    """Saturation current (A) and saturation voltage (V) of one read-port NMOS with its gate at V_dd.

    Alpha-power law normalised so a nominal device carries ``i_on_a_per_um * W`` (scaled by
    16 nm / L); ``V_DSAT`` equals the nominal overdrive at nominal V_TH and scales as
    ``V_ov**(alpha/2)`` (Sakurai-Newton).
    """
    vov = _smooth_overdrive(config.vdd_v - np.asarray(vth_v, dtype=np.float64), config.slope_factor)
    vov0 = float(_smooth_overdrive(np.float64(config.vdd_v - config.vth_nominal_v), config.slope_factor))
    i_nom = config.i_on_a_per_um * (config.width_nm / 1000.0) * (I_ON_REFERENCE_LENGTH_NM / config.length_nm)
    ratio = vov / vov0
    return i_nom * ratio**config.alpha, vov0 * ratio ** (config.alpha / 2.0)


def stack_drive(vth_v: np.ndarray, config: SRAMConfig) -> tuple[np.ndarray, np.ndarray]:
    """Saturation current and voltage of a two-NMOS discharge stack; ``vth_v[..., 2]`` holds both V_TH.

    Series devices add like resistors: ``I = I1 I2 / (I1 + I2)``, and the stack's ``V_DSAT`` keeps its
    small-signal on-conductance ``2 I / V_DSAT`` equal to that of the two devices in series.
    """
    i, vd = device_drive(vth_v, config)
    i1, i2, v1, v2 = i[..., 0], i[..., 1], vd[..., 0], vd[..., 1]
    i_stack = i1 * i2 / (i1 + i2)
    return i_stack, i_stack * (v1 / i1 + v2 / i2)


def discharge(v0: np.ndarray, i_sat: np.ndarray, v_dsat: np.ndarray, cap_f: float, t_s: float) -> np.ndarray:
    """Bit-line voltage after a stack with (``i_sat``, ``v_dsat``) discharges ``cap_f`` from ``v0`` for ``t_s``.

    Above ``v_dsat`` the stack sinks a constant ``i_sat`` (linear ramp); below it the current is
    ``i_sat (2 - x) x`` with ``x = V / v_dsat``, whose ODE ``dx/dt = -k x (2 - x)``, ``k = i_sat / (C v_dsat)``
    integrates to ``x = 2r / (1 + r)``, ``r = x0 / (2 - x0) exp(-2 k t)``.
    """
    v0 = np.asarray(v0, dtype=np.float64)
    i_sat = np.maximum(np.asarray(i_sat, dtype=np.float64), 1e-30)
    v_dsat = np.asarray(v_dsat, dtype=np.float64)
    t_ramp = cap_f * np.maximum(v0 - v_dsat, 0.0) / i_sat
    v_ramp = v0 - i_sat * t_s / cap_f
    x0 = np.minimum(v0, v_dsat) / v_dsat
    k = i_sat / (cap_f * v_dsat)
    r = x0 / (2.0 - x0) * np.exp(-2.0 * k * np.maximum(t_s - t_ramp, 0.0))
    return np.where(t_s <= t_ramp, v_ramp, v_dsat * 2.0 * r / (1.0 + r))


def cell_drop_v(vth_v: np.ndarray, v_p: np.ndarray, config: SRAMConfig) -> np.ndarray:
    """How far a conducting path pulls its line down (V): ``vth_v[..., 2]`` per stack, ``v_p`` the precharge."""
    i_sat, v_dsat = stack_drive(vth_v, config)
    return v_p - discharge(v_p, i_sat, v_dsat, config.bitline_cap_f, config.discharge_time_s)


def nominal_discharge_v(config: SRAMConfig, v_p: float | np.ndarray) -> np.ndarray:
    """Line drop of a variation-free cell from precharge ``v_p`` (full discharge would be ``v_p``)."""
    vth = np.full(np.shape(v_p) + (2,), config.vth_nominal_v)
    return cell_drop_v(vth, np.asarray(v_p, dtype=np.float64), config)


def _sample_vth(rng: np.random.Generator, shape: tuple[int, ...], config: SRAMConfig) -> np.ndarray:
    """Threshold voltages of ``shape`` transistors: nominal plus N(0, sigma_vth)."""
    if config.sigma_vth_v == 0.0:
        return np.full(shape, config.vth_nominal_v)
    return config.vth_nominal_v + config.sigma_vth_v * rng.standard_normal(shape)
