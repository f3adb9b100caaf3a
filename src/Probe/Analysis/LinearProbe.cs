using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace Probe.Analysis;

/// <summary>
/// The optimizer of a <see cref="LinearProbe"/>: ML.NET's LbfgsMaximumEntropy (default) or SdcaMaximumEntropy, or Torch:
/// full-batch L-BFGS on libtorch GEMMs (same objective, much faster on large matrices).
/// </summary>
public enum ProbeTrainer { Lbfgs, Sdca, Torch }

/// <summary>
/// The outcome of a linear probe (plain data). Accuracies are fractions in [0, 1]; <see cref="MacroAccuracy"/> is the
/// mean per-class recall on the test part; <see cref="ConfusionMatrix"/>[true][predicted] indexes <see cref="Classes"/>.
/// With k-fold, the accuracies and log loss are means over folds and the confusion matrix is summed over folds.
/// <see cref="Seconds"/> is wall time, the one field that differs between identical runs: it is left out of every JSON
/// (so the same inputs and seed give byte-identical JSON) and shown in the CLI's table.
/// </summary>
public sealed record ProbeResult(
    ProbeTrainer Trainer,
    double TrainAccuracy,
    double TestAccuracy,
    double MacroAccuracy,
    double LogLoss,
    int[][] ConfusionMatrix,
    int[] Classes,
    int Features,
    int TrainCount,
    int TestCount,
    double ChosenL2,
    double[] L2Grid,
    double[] ValidationAccuracies,
    double[] FoldTestAccuracies,
    double[] FoldChosenL2,
    double TestAccuracyStd,
    int Seed,
    [property: System.Text.Json.Serialization.JsonIgnore] double Seconds);

/// <summary>
/// A linear probe: multinomial logistic regression on standardized features (mean/std of the training part only).
/// <see cref="L2Grid"/> values weigh 0.5 ||W||^2 against the SUM of training log losses (scikit-learn's 1/C; null means
/// {1}, i.e. C = 1). With several values, the one with the best accuracy on a stratified validation part
/// (<see cref="ValidationFraction"/> of the training part) is chosen (first in grid order on ties), then the probe is
/// refitted on the whole training part; the test part is never used for choosing. Without a train mask the data is split
/// stratified with <see cref="TestFraction"/>; with <see cref="Folds"/> &gt; 1, stratified k-fold over all data.
/// <see cref="Tolerance"/> is ML.NET L-BFGS's relative convergence tolerance; <see cref="GradientTolerance"/> is the Torch
/// trainer's bound on max |gradient| of the mean objective. Same inputs and seed give the same numbers (ML.NET trains
/// single-threaded; Torch with a fixed libtorch thread count).
/// </summary>
public sealed record LinearProbe(
    ProbeTrainer Trainer = ProbeTrainer.Lbfgs,
    int Seed = 0,
    double[]? L2Grid = null,
    double ValidationFraction = 0.2,
    int Folds = 0,
    double TestFraction = 0.25,
    int MaxIterations = 1000,
    double Tolerance = 1e-7,
    double GradientTolerance = 1e-4)
{
    private double[] Grid => L2Grid is { Length: > 0 } g ? g : [1.0];

    /// <summary>
    /// Where the Torch trainer fits and scores (<c>cpu</c>, <c>auto</c>, <c>cuda[:N]</c>): the standardized features
    /// are moved there once and every objective and gradient is evaluated there (the L-BFGS steps stay on the CPU in
    /// double). The ML.NET trainers run on the CPU: a CUDA request with them is refused. A CUDA request fails where
    /// libtorch has no CUDA, naming the package to reference.
    /// </summary>
    public Probe.Capture.ComputeDevice Device { get; init; } = Probe.Capture.ComputeDevice.Cpu;

    // The libtorch device of the Torch trainer (resolved once per run).
    private TorchSharp.torch.Device TorchDevice()
    {
        if (Device.Kind == Probe.Capture.DeviceKind.Cpu) return TorchSharp.torch.CPU;
        return Device.Resolve().ToTorch();
    }

    /// <summary>Trains and scores the probe. <paramref name="trainMask"/>: true = training sample, false = test sample.</summary>
    public ProbeResult Run(Matrix features, int[] labels, bool[]? trainMask = null)
    {
        var sw = Stopwatch.StartNew();
        Validate(features, labels, trainMask);
        if (Trainer != ProbeTrainer.Torch && Device.Kind == Probe.Capture.DeviceKind.Cuda)
            throw new ProbeException($"The {Trainer.ToString().ToLowerInvariant()} trainer (ML.NET) runs on the CPU; only the torch trainer fits on device '{Device}'.");
        var classes = labels.Distinct().Order().ToArray();
        var index = classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i);
        var y = labels.Select(l => index[l]).ToArray();
        int n = features.Rows;

        if (Folds > 1)
        {
            var folds = StratifiedFolds(y, classes.Length, Folds, Seed);
            var parts = new List<Fit>();
            for (int f = 0; f < Folds; f++)
            {
                var test = folds[f];
                var testSet = new HashSet<int>(test);
                var train = Enumerable.Range(0, n).Where(i => !testSet.Contains(i)).ToArray();
                parts.Add(FitAndScore(features, y, classes.Length, train, test, Seed + f));
            }
            var accs = parts.Select(p => p.TestAccuracy).ToArray();
            double mean = accs.Average();
            double std = Math.Sqrt(accs.Sum(a => (a - mean) * (a - mean)) / Math.Max(1, accs.Length - 1));
            var conf = new int[classes.Length][];
            for (int i = 0; i < conf.Length; i++) conf[i] = new int[classes.Length];
            foreach (var p in parts) for (int i = 0; i < conf.Length; i++) for (int j = 0; j < conf.Length; j++) conf[i][j] += p.Confusion[i][j];
            var chosen = parts.Select(p => p.ChosenL2).ToArray();
            double mostChosen = chosen.GroupBy(v => v).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
            return new ProbeResult(Trainer, parts.Average(p => p.TrainAccuracy), mean, parts.Average(p => p.MacroAccuracy),
                parts.Average(p => p.LogLoss), conf, classes, features.Cols, parts.Sum(p => p.TrainCount), parts.Sum(p => p.TestCount),
                mostChosen, Grid, parts[0].ValidationAccuracies, accs, chosen, std, Seed, sw.Elapsed.TotalSeconds);
        }

        int[] trainIdx, testIdx;
        if (trainMask != null)
        {
            trainIdx = Enumerable.Range(0, n).Where(i => trainMask[i]).ToArray();
            testIdx = Enumerable.Range(0, n).Where(i => !trainMask[i]).ToArray();
        }
        else
            (trainIdx, testIdx) = StratifiedSplit(Enumerable.Range(0, n).ToArray(), y, classes.Length, TestFraction, Seed);
        if (trainIdx.Length == 0 || testIdx.Length == 0)
            throw new ProbeException($"A linear probe needs both training and test samples; got {trainIdx.Length} and {testIdx.Length}.");
        var fit = FitAndScore(features, y, classes.Length, trainIdx, testIdx, Seed);
        return new ProbeResult(Trainer, fit.TrainAccuracy, fit.TestAccuracy, fit.MacroAccuracy, fit.LogLoss, fit.Confusion, classes,
            features.Cols, fit.TrainCount, fit.TestCount, fit.ChosenL2, Grid, fit.ValidationAccuracies, [], [], 0, Seed, sw.Elapsed.TotalSeconds);
    }

    private void Validate(Matrix features, int[] labels, bool[]? trainMask)
    {
        ArgumentNullException.ThrowIfNull(features); ArgumentNullException.ThrowIfNull(labels);
        features.EnsureNotEmpty("The probe's features").EnsureFinite("The probe's features");
        if (labels.Length != features.Rows) throw new ProbeException($"{labels.Length} labels for {features.Rows} samples.");
        if (trainMask != null && trainMask.Length != features.Rows) throw new ProbeException($"The train mask has {trainMask.Length} entries for {features.Rows} samples.");
        if (trainMask != null && Folds > 1) throw new ProbeException("Give either a train mask or Folds > 1, not both.");
        if (labels.Distinct().Count() < 2) throw new ProbeException("A linear probe needs at least two classes.");
        if (!(ValidationFraction > 0 && ValidationFraction < 1)) throw new ProbeException($"ValidationFraction must be in (0, 1), got {ValidationFraction}.");
        if (!(TestFraction > 0 && TestFraction < 1)) throw new ProbeException($"TestFraction must be in (0, 1), got {TestFraction}.");
        if (Folds < 0 || Folds == 1) throw new ProbeException($"Folds must be 0 (no cross-validation) or at least 2, got {Folds}.");
        if (!(Tolerance > 0)) throw new ProbeException($"Tolerance must be positive, got {Tolerance}.");
        if (!(GradientTolerance > 0)) throw new ProbeException($"GradientTolerance must be positive, got {GradientTolerance}.");
        if (MaxIterations < 1) throw new ProbeException($"MaxIterations must be positive, got {MaxIterations}.");
        foreach (var l2 in Grid) if (!(l2 >= 0) || double.IsInfinity(l2)) throw new ProbeException($"L2 values must be finite and >= 0, got {l2}.");
    }

    private sealed record Fit(double TrainAccuracy, double TestAccuracy, double MacroAccuracy, double LogLoss, int[][] Confusion,
        double ChosenL2, double[] ValidationAccuracies, int TrainCount, int TestCount);

    private Fit FitAndScore(Matrix x, int[] y, int k, int[] train, int[] test, int seed)
    {
        var grid = Grid;
        double chosen = grid[0];
        double[] valAcc = [];
        if (grid.Length > 1)
        {
            var (sub, val) = StratifiedSplit(train, y, k, ValidationFraction, seed);
            if (sub.Length == 0 || val.Length == 0) throw new ProbeException("The training part is too small to carve a validation part from.");
            var (mu, sd) = Standardizer(x, sub);
            valAcc = new double[grid.Length];
            for (int g = 0; g < grid.Length; g++)
            {
                using var model = Train(x, y, k, sub, mu, sd, grid[g], seed);
                valAcc[g] = Score(model.Probabilities(x, val), y, k, val).Accuracy;
            }
            int best = 0;
            for (int g = 1; g < grid.Length; g++) if (valAcc[g] > valAcc[best]) best = g;
            chosen = grid[best];
        }
        var (m, s) = Standardizer(x, train);
        using var final = Train(x, y, k, train, m, s, chosen, seed);
        var tr = Score(final.Probabilities(x, train), y, k, train);
        var te = Score(final.Probabilities(x, test), y, k, test);
        return new Fit(tr.Accuracy, te.Accuracy, te.Macro, te.LogLoss, te.Confusion, chosen, valAcc, train.Length, test.Length);
    }

    /// <summary>Per-column mean and std (population) of the given rows, in double; a zero std becomes 1.</summary>
    internal static (double[] Mean, double[] Std) Standardizer(Matrix x, int[] rows)
    {
        int d = x.Cols;
        var mean = new double[d]; var m2 = new double[d];
        foreach (var i in rows) { var r = x.Row(i); for (int j = 0; j < d; j++) mean[j] += r[j]; }
        for (int j = 0; j < d; j++) mean[j] /= rows.Length;
        foreach (var i in rows) { var r = x.Row(i); for (int j = 0; j < d; j++) { double v = r[j] - mean[j]; m2[j] += v * v; } }
        var std = new double[d];
        for (int j = 0; j < d; j++) { double s = Math.Sqrt(m2[j] / rows.Length); std[j] = s > 0 ? s : 1; }
        return (mean, std);
    }

    private sealed class Row
    {
        public uint Label { get; set; }
        public float[] Features { get; set; } = [];
    }

    private static IDataView Load(MLContext ml, Matrix x, int[] y, int k, int[] rows, double[] mu, double[] sd)
    {
        int d = x.Cols;
        var inv = sd.Select(s => 1.0 / s).ToArray();
        var data = new Row[rows.Length];
        for (int r = 0; r < rows.Length; r++)
        {
            var src = x.Row(rows[r]);
            var f = new float[d];
            for (int j = 0; j < d; j++) f[j] = (float)((src[j] - mu[j]) * inv[j]);
            data[r] = new Row { Label = (uint)y[rows[r]], Features = f };   // LoadFromEnumerable reads a key column as 0-based; score slot c = class c
        }
        var schema = SchemaDefinition.Create(typeof(Row));
        schema["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, d);
        schema["Label"].ColumnType = new KeyDataViewType(typeof(uint), k);
        return ml.Data.LoadFromEnumerable(data, schema);
    }

    /// <summary>A trained probe: class probabilities (rows x k, row-major) of the given rows of the raw features.</summary>
    private interface IFitted : IDisposable
    {
        float[] Probabilities(Matrix x, int[] rows);
    }

    private sealed class MlNetFitted(ITransformer model, int k, double[] mu, double[] sd) : IFitted
    {
        public float[] Probabilities(Matrix x, int[] rows)
        {
            var ml = new MLContext(0);
            var scored = model.Transform(Load(ml, x, new int[x.Rows], k, rows, mu, sd));
            var probs = new float[rows.Length * k];
            int r = 0;
            using (var cursor = scored.GetRowCursor(scored.Schema.Where(c => c.Name == "Score")))
            {
                var getter = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
                VBuffer<float> buf = default;
                while (cursor.MoveNext())
                {
                    if (r == rows.Length) throw new InvalidOperationException("ML.NET scored more rows than given.");
                    getter(ref buf);
                    buf.CopyTo(probs.AsSpan(r * k, k));
                    r++;
                }
            }
            if (r != rows.Length) throw new InvalidOperationException($"ML.NET scored {r} rows of {rows.Length}.");
            return probs;
        }

        public void Dispose() { }
    }

    private sealed class TorchFitted(TorchLogisticRegression model, int[] trainRows, TorchSharp.torch.Tensor trainX, double[] mu, double[] sd) : IFitted
    {
        public float[] Probabilities(Matrix x, int[] rows)
        {
            if (ReferenceEquals(rows, trainRows)) return model.Probabilities(trainX);
            using var t = TorchLogisticRegression.Standardized(x, rows, mu, sd, trainX.device);
            return model.Probabilities(t);
        }

        public void Dispose() => trainX.Dispose();
    }

    private IFitted Train(Matrix x, int[] y, int k, int[] rows, double[] mu, double[] sd, double l2, int seed)
    {
        if (Trainer == ProbeTrainer.Torch)
        {
            var t = TorchLogisticRegression.Standardized(x, rows, mu, sd, TorchDevice());
            try
            {
                var model = TorchLogisticRegression.Fit(t, rows.Select(i => y[i]).ToArray(), k, l2, MaxIterations, GradientTolerance);
                return new TorchFitted(model, rows, t, mu, sd);
            }
            catch { t.Dispose(); throw; }
        }
        var ml = new MLContext(seed);
        var view = Load(ml, x, y, k, rows, mu, sd);
        IEstimator<ITransformer> est = Trainer switch
        {
            ProbeTrainer.Lbfgs => ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(new LbfgsMaximumEntropyMulticlassTrainer.Options
            {
                L2Regularization = (float)l2,
                L1Regularization = 0,
                NumberOfThreads = 1,
                MaximumNumberOfIterations = MaxIterations,
                OptimizationTolerance = (float)Tolerance,
            }),
            // SDCA's L2 weighs the MEAN loss: divide by the sample count to keep the grid's meaning.
            ProbeTrainer.Sdca => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(new SdcaMaximumEntropyMulticlassTrainer.Options
            {
                L2Regularization = (float)Math.Max(l2 / rows.Length, 1e-12),
                L1Regularization = 0,
                NumberOfThreads = 1,
                MaximumNumberOfIterations = Math.Min(MaxIterations, 100),
                Shuffle = true,
            }),
            _ => throw new ProbeException($"Unknown probe trainer {Trainer}."),
        };
        view = ml.Data.Cache(view);
        return new MlNetFitted(est.Fit(view), k, mu, sd);
    }

    private static (double Accuracy, double Macro, double LogLoss, int[][] Confusion) Score(float[] probs, int[] y, int k, int[] rows)
    {
        var conf = new int[k][];
        for (int i = 0; i < k; i++) conf[i] = new int[k];
        double logLoss = 0; int correct = 0;
        for (int r = 0; r < rows.Length; r++)
        {
            var p = probs.AsSpan(r * k, k);
            int best = 0;
            for (int c = 1; c < k; c++) if (p[c] > p[best]) best = c;
            int truth = y[rows[r]];
            conf[truth][best]++;
            if (best == truth) correct++;
            logLoss -= Math.Log(Math.Max(p[truth], 1e-15));
        }
        double macro = 0; int present = 0;
        for (int c = 0; c < k; c++)
        {
            int total = conf[c].Sum();
            if (total == 0) continue;
            macro += (double)conf[c][c] / total; present++;
        }
        return ((double)correct / rows.Length, macro / present, logLoss / rows.Length, conf);
    }

    /// <summary>Splits <paramref name="rows"/> per class with a seeded shuffle: round(fraction x class size) go to the held-out part.</summary>
    internal static (int[] Keep, int[] HeldOut) StratifiedSplit(int[] rows, int[] y, int k, double fraction, int seed)
    {
        var rng = new Random(seed);
        var keep = new List<int>(); var held = new List<int>();
        for (int c = 0; c < k; c++)
        {
            var members = rows.Where(i => y[i] == c).ToArray();
            rng.Shuffle(members);
            int h = (int)Math.Round(members.Length * fraction, MidpointRounding.AwayFromZero);
            if (members.Length >= 2) h = Math.Clamp(h, 1, members.Length - 1);
            held.AddRange(members.Take(h)); keep.AddRange(members.Skip(h));
        }
        keep.Sort(); held.Sort();
        return ([.. keep], [.. held]);
    }

    /// <summary>Stratified k-fold assignment with a seeded shuffle: each class's samples are dealt round-robin to folds.</summary>
    internal static int[][] StratifiedFolds(int[] y, int k, int folds, int seed)
    {
        var rng = new Random(seed);
        var parts = Enumerable.Range(0, folds).Select(_ => new List<int>()).ToArray();
        int next = 0;
        for (int c = 0; c < k; c++)
        {
            var members = Enumerable.Range(0, y.Length).Where(i => y[i] == c).ToArray();
            rng.Shuffle(members);
            foreach (var m in members) { parts[next].Add(m); next = (next + 1) % folds; }
        }
        return parts.Select(p => { p.Sort(); return p.ToArray(); }).ToArray();
    }
}

/// <summary>One checkpoint of a training run: its epoch, the network's training accuracy and each layer's probe accuracy (fractions).</summary>
public sealed record ProbeCheckpoint(int Epoch, double TrainAccuracy, IReadOnlyDictionary<string, double> LayerProbeAccuracy);

/// <summary>A layer whose probe accuracy stopped improving while the network's training accuracy still rose.</summary>
public sealed record ProbePlateauWarning(string Layer, int FromEpoch, int ToEpoch, double ProbeChangePoints, double TrainRisePoints, string Message);

/// <summary>Checks probe accuracies across checkpoints.</summary>
public static class ProbePlateau
{
    /// <summary>
    /// Over the last <paramref name="window"/> checkpoints: warns for each layer whose probe accuracy spread (max - min)
    /// is below <paramref name="plateauPoints"/> percentage points while training accuracy rose by more than
    /// <paramref name="risePoints"/> points (last minus first of the window).
    /// </summary>
    public static ProbePlateauWarning[] Check(IReadOnlyList<ProbeCheckpoint> checkpoints, int window = 3, double plateauPoints = 0.5, double risePoints = 1.0)
    {
        ArgumentNullException.ThrowIfNull(checkpoints);
        if (window < 2) throw new ProbeException($"The plateau window needs at least 2 checkpoints, got {window}.");
        if (checkpoints.Count < window) return [];
        for (int i = 1; i < checkpoints.Count; i++)
            if (checkpoints[i].Epoch <= checkpoints[i - 1].Epoch) throw new ProbeException("Checkpoints must be in increasing epoch order.");
        var last = checkpoints.Skip(checkpoints.Count - window).ToArray();
        double rise = 100 * (last[^1].TrainAccuracy - last[0].TrainAccuracy);
        if (!(rise > risePoints)) return [];
        var warnings = new List<ProbePlateauWarning>();
        foreach (var layer in last[^1].LayerProbeAccuracy.Keys.Order(StringComparer.Ordinal))
        {
            if (!last.All(c => c.LayerProbeAccuracy.ContainsKey(layer))) continue;
            var accs = last.Select(c => c.LayerProbeAccuracy[layer]).ToArray();
            double spread = 100 * (accs.Max() - accs.Min());
            if (spread < plateauPoints)
                warnings.Add(new ProbePlateauWarning(layer, last[0].Epoch, last[^1].Epoch, spread, rise, FormattableString.Invariant(
                    $"Layer '{layer}': probe accuracy changed by {spread:F2} points over epochs {last[0].Epoch}-{last[^1].Epoch} while training accuracy rose {rise:F2} points; this layer's linear information has plateaued (later layers or memorisation drive the gains).")));
        }
        return [.. warnings];
    }
}
