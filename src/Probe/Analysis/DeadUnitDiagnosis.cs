namespace Probe.Analysis;

/// <summary>Why a ReLU unit never fires.</summary>
public enum DeadUnitReason
{
    /// <summary>Incoming weight norm ~ 0 and bias &lt;= 0: the pre-activation is the (non-positive) bias for every input.</summary>
    ZeroIncomingWeights,
    /// <summary>bias + ||w|| * max_x ||x|| &lt;= 0: by Cauchy-Schwarz no input of the observed norm can make it positive.</summary>
    BiasBelowReachableInput,
    /// <summary>The general case: some input could reach a positive pre-activation, but none of the data does.</summary>
    AllPreActivationsNegative,
}

/// <summary>The diagnosis of one dead unit (plain data). <see cref="ReachableBound"/> = bias + ||w|| * max input norm.</summary>
public sealed record DeadUnitCause(int Unit, double MaxPreActivation, double Bias, double WeightNorm, double MaxInputNorm,
    double ReachableBound, DeadUnitReason Reason, string Explanation);

/// <summary>How a unit's firing evolved across checkpoints. DiedAtEpoch: first checkpoint from which it is dead at every later one.</summary>
public sealed record UnitDeathRecord(int Unit, bool DeadAtEnd, int? DiedAtCheckpoint, int? DiedAtEpoch, bool EverAlive,
    bool DeadFromInitialisation, bool DiedInTraining, int Revivals);

/// <summary>Pure functions that explain dead units from the weights feeding them and follow them across checkpoints.</summary>
public static class DeadUnitDiagnosis
{
    /// <summary>
    /// Explains each dead unit of a ReLU that follows a Linear (or Conv) layer. <paramref name="weight"/> is row-major
    /// out x in (a conv kernel flattened to out x (in*kh*kw)), <paramref name="maxPreActivation"/> the per-unit maximum
    /// pre-activation over the data (the ReLU input's <see cref="LayerUnitStats.UnitMax"/>), <paramref name="maxInputNorm"/>
    /// the largest L2 norm of the layer's input rows (<see cref="LayerUnitStats.MaxRowNorm"/> of its input; for a conv,
    /// the norm of the whole input bounds every patch norm, so the rule stays valid, only looser).
    /// </summary>
    public static DeadUnitCause[] Explain(IReadOnlyList<int> deadUnits, float[] weight, float[] bias, int inFeatures,
        float[] maxPreActivation, double maxInputNorm, double zeroNormTolerance = 1e-12)
    {
        ArgumentNullException.ThrowIfNull(weight); ArgumentNullException.ThrowIfNull(bias);
        if (inFeatures <= 0) throw new ProbeException($"inFeatures must be positive, got {inFeatures}.");
        if (weight.Length != (long)bias.Length * inFeatures)
            throw new ProbeException($"The weight has {weight.Length} values; {bias.Length} outputs (bias length) x {inFeatures} inputs needs {(long)bias.Length * inFeatures}.");
        return Explain(deadUnits, RowNorms(weight, inFeatures), bias.Select(b => (double)b).ToArray(), maxPreActivation, maxInputNorm, zeroNormTolerance);
    }

    /// <summary>The L2 norm of each row of a row-major (rows x <paramref name="inFeatures"/>) weight, summed in double.</summary>
    public static double[] RowNorms(float[] weight, int inFeatures)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (inFeatures <= 0 || weight.Length % inFeatures != 0) throw new ProbeException($"A weight of {weight.Length} values has no rows of {inFeatures}.");
        var norms = new double[weight.Length / inFeatures];
        for (int u = 0; u < norms.Length; u++) norms[u] = Math.Sqrt(UnitStatsAccumulator.SquaredNorm(weight.AsSpan(u * inFeatures, inFeatures)));
        return norms;
    }

    /// <summary>
    /// <see cref="Explain(IReadOnlyList{int}, float[], float[], int, float[], double, double)"/> from each unit's incoming
    /// weight norm ‖w_u‖ and bias b_u (all the rule needs).
    /// </summary>
    public static DeadUnitCause[] Explain(IReadOnlyList<int> deadUnits, double[] weightNorms, double[] bias,
        float[] maxPreActivation, double maxInputNorm, double zeroNormTolerance = 1e-12)
    {
        ArgumentNullException.ThrowIfNull(deadUnits); ArgumentNullException.ThrowIfNull(weightNorms);
        ArgumentNullException.ThrowIfNull(bias); ArgumentNullException.ThrowIfNull(maxPreActivation);
        int outFeatures = bias.Length;
        if (weightNorms.Length != outFeatures)
            throw new ProbeException($"{weightNorms.Length} weight norms for a layer of {outFeatures} units (bias length).");
        if (maxPreActivation.Length != outFeatures)
            throw new ProbeException($"{maxPreActivation.Length} max pre-activations for a layer of {outFeatures} units.");
        if (!double.IsFinite(maxInputNorm) || maxInputNorm < 0) throw new ProbeException($"The max input norm must be finite and >= 0, got {maxInputNorm}.");
        var result = new DeadUnitCause[deadUnits.Count];
        for (int k = 0; k < deadUnits.Count; k++)
        {
            int u = deadUnits[k];
            if ((uint)u >= (uint)outFeatures) throw new ProbeException($"Dead unit {u} is outside a layer of {outFeatures} units.");
            double norm = weightNorms[u], b = bias[u], bound = b + norm * maxInputNorm;
            if (!double.IsFinite(norm) || !double.IsFinite(b)) throw new ProbeException($"Unit {u} has non-finite weights or bias.");
            DeadUnitReason reason; string why;
            if (norm <= zeroNormTolerance && b <= 0)
            {
                reason = DeadUnitReason.ZeroIncomingWeights;
                why = FormattableString.Invariant($"unit {u}: incoming weights are zero (norm {norm:G3}) and bias {b:G4} <= 0, so every pre-activation equals the bias");
            }
            else if (bound <= 0)
            {
                reason = DeadUnitReason.BiasBelowReachableInput;
                why = FormattableString.Invariant($"unit {u}: bias {b:G4} + ||w|| {norm:G4} x max ||x|| {maxInputNorm:G4} = {bound:G4} <= 0: no input as large as the data's can switch it on");
            }
            else
            {
                reason = DeadUnitReason.AllPreActivationsNegative;
                why = FormattableString.Invariant($"unit {u}: an input could reach up to {bound:G4}, but its largest pre-activation on the data is {maxPreActivation[u]:G4}");
            }
            result[k] = new DeadUnitCause(u, maxPreActivation[u], b, norm, maxInputNorm, bound, reason, why);
        }
        return result;
    }

    /// <summary>
    /// Follows each unit across epoch-ordered checkpoints (<paramref name="firingRates"/>[checkpoint][unit]). A unit
    /// died at the first checkpoint from which its firing rate is 0 at every later checkpoint (up to the last); it is dead
    /// from initialisation when that is the first checkpoint, died in training otherwise. Revivals counts dead-to-alive
    /// transitions.
    /// </summary>
    public static UnitDeathRecord[] Timeline(IReadOnlyList<int> epochs, IReadOnlyList<float[]> firingRates)
    {
        ArgumentNullException.ThrowIfNull(epochs); ArgumentNullException.ThrowIfNull(firingRates);
        if (firingRates.Count == 0) throw new ProbeException("No checkpoints were given.");
        if (epochs.Count != firingRates.Count) throw new ProbeException($"{epochs.Count} epochs for {firingRates.Count} checkpoints.");
        for (int c = 1; c < epochs.Count; c++)
            if (epochs[c] <= epochs[c - 1]) throw new ProbeException($"Checkpoints must be in increasing epoch order; epoch {epochs[c]} follows {epochs[c - 1]}.");
        int units = firingRates[0].Length;
        for (int c = 0; c < firingRates.Count; c++)
        {
            if (firingRates[c].Length != units) throw new ProbeException($"Checkpoint {c} has {firingRates[c].Length} units; checkpoint 0 has {units}.");
            foreach (var r in firingRates[c]) if (!(r >= 0 && r <= 1)) throw new ProbeException($"Checkpoint {c} has a firing rate {r} outside [0, 1].");
        }
        int last = firingRates.Count - 1;
        var result = new UnitDeathRecord[units];
        for (int u = 0; u < units; u++)
        {
            int? died = null;
            for (int c = last; c >= 0 && firingRates[c][u] == 0; c--) died = c;
            bool everAlive = false; int revivals = 0;
            for (int c = 0; c <= last; c++)
            {
                if (firingRates[c][u] > 0) everAlive = true;
                if (c > 0 && firingRates[c - 1][u] == 0 && firingRates[c][u] > 0) revivals++;
            }
            result[u] = new UnitDeathRecord(u, died != null, died, died is int d ? epochs[d] : null, everAlive,
                DeadFromInitialisation: died == 0, DiedInTraining: died > 0, revivals);
        }
        return result;
    }
}
