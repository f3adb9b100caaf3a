using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Projection;
using Probe.Reporting.Sections;
using Probe.Similarity;

namespace Probe.Reporting;

/// <summary>
/// Settings of a <see cref="Report"/>: the seed of every random choice and the sample caps of each analysis (dead
/// units use every sample, the others their own caps; <see cref="MaxSamples"/> caps every section).
/// </summary>
public sealed record ReportSettings(
    int Seed = 0,
    int? MaxSamples = null,
    int QualitySamples = 1000,
    int CkaSamples = 1000,
    int EvolutionSamples = 500,
    int TsneIterations = 750,
    int BatchSize = 256)
{
    /// <summary>A section's own cap, no more than <see cref="MaxSamples"/>.</summary>
    internal int Cap(int own) => MaxSamples is int m ? Math.Min(own, m) : own;

    /// <summary>Stops the report between batches and iterations; nothing is left in the output folder.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Called with (stage, done, total) as work proceeds: stages are the sections, done/total their own units.</summary>
    public Action<string, int, int>? Progress { get; init; }

    /// <summary>Called with one line at the end of each stage.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// The model input whose [N, T] rows mark each sample's real tokens (1) and padding (0), such as
    /// <c>attention_mask</c>: every section pools sequence sites of T tokens over the real tokens only and judges their
    /// units on them (see <see cref="ActivationCapture.TokenMask"/>). Null: every token counts.
    /// </summary>
    public string? TokenMask { get; init; }

    /// <summary>The command line to record in the provenance (shown on the page and in timings.json).</summary>
    public string? CommandLine { get; init; }

    /// <summary>Width, resolution, font size and titles of every figure (default: each figure's preset).</summary>
    public FigureSettings Figures { get; init; } = FigureSettings.Default;

    /// <summary>
    /// Replace the output folder even when it is neither empty nor an earlier report (the CLI's --force). Without it a
    /// folder holding anything else is refused before any work: a report replaces its whole folder.
    /// </summary>
    public bool ReplaceAnyFolder { get; init; }

    /// <summary>Where models run (default the CPU; see <see cref="ComputeDevice"/>). Not part of report.json: results
    /// do not depend on it beyond the device's float arithmetic.</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;
}

/// <summary>A training run to report on, with a short label ("main", "high-lr").</summary>
public sealed record ReportRun(string Label, RunFolder Run);

/// <summary>
/// The Probe report, assembled in one place: <c>probe report</c>, <c>probe demo</c> and notebooks call
/// <see cref="ForRuns"/> (training runs with checkpoints: every section) or <see cref="ForModel"/> (one trained model:
/// sections that need checkpoints are left out and say why). The report opens with a summary of findings in sentences
/// with numbers, then one section per analysis (each opening with a definition and how to read it), then provenance.
/// </summary>
public static class Report
{
    public const string TrainingSection = "Training";
    public const string DeadSection = "Dead units";
    public const string QualitySection = "Representation quality";
    public const string SimilaritySection = "Layer similarity";
    public const string EvolutionSection = "Layer evolution";

    /// <summary>
    /// Writes the report of training runs (the first is the main run; dead units are studied for each, the other
    /// analyses for the main run) on <paramref name="data"/> (the runs' data) into <paramref name="directory"/>, which
    /// it replaces (refused when that holds anything but an earlier report, unless <see cref="ReportSettings.ReplaceAnyFolder"/>);
    /// returns the path of index.html.
    /// </summary>
    public static string ForRuns(IReadOnlyList<ReportRun> runs, IDataset data, string dataSpec, ReportSettings settings, string directory, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(runs); ArgumentNullException.ThrowIfNull(data); ArgumentNullException.ThrowIfNull(settings);
        if (runs.Count == 0) throw new ProbeException("A report needs at least one run.");
        ReportFolder.CheckReplaceable(directory, settings.ReplaceAnyFolder);
        var main = runs[0].Run;
        using var report = new ReportFolder(directory, title ?? $"Probe report: {main.Info.Model} on {dataSpec}") { CommandLine = settings.CommandLine, FigureSettings = settings.Figures, ReplaceAnyFolder = settings.ReplaceAnyFolder };
        var b = new Builder(report, settings, data, dataSpec);
        int finalEpoch = main.Checkpoints[^1].Epoch;
        b.Provenance(runs.Select(r => (object)new
        {
            label = r.Label,
            model = r.Run.Info.Model,
            data = r.Run.Info.Data,
            training_seed = r.Run.Info.Seed,
            optimizer = r.Run.Info.Optimizer.Name,
            learning_rate = r.Run.Info.Optimizer.LearningRate,
            epochs = r.Run.Checkpoints[^1].Epoch,
            run_json_sha256 = Sha256File(Path.Combine(r.Run.Directory, RunFolder.RunFile)),
            final_weights_sha256 = Sha256File(r.Run.CheckpointPath(r.Run.Checkpoints[^1].Epoch)),
        }).ToArray());

        b.Training(runs);
        b.DeadUnits(runs);
        using (var first = ModelLoader.Open(main.Info.Model, main.CheckpointPath(finalEpoch), device: settings.Device))
        {
            string layers = Builder.AnalysisLayers(first, data);
            b.Quality(main, null, layers);
            b.Similarity(main, first, layers);
        }
        b.Evolution(main);
        b.Summarise(runs.Count > 1 ? runs[0].Label : null);
        return report.Write();
    }

    /// <summary>
    /// Writes the report of one trained model (<paramref name="source"/>, described by <paramref name="model"/> and
    /// <paramref name="weights"/>, the file whose hash is recorded) on <paramref name="data"/> into <paramref name="directory"/>,
    /// which it replaces (refused when that holds anything but an earlier report, unless
    /// <see cref="ReportSettings.ReplaceAnyFolder"/>); returns the path of index.html.
    /// </summary>
    public static string ForModel(IActivationSource source, string model, string? weights, IDataset data, string dataSpec, ReportSettings settings, string directory, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(source); ArgumentNullException.ThrowIfNull(data); ArgumentNullException.ThrowIfNull(settings);
        ReportFolder.CheckReplaceable(directory, settings.ReplaceAnyFolder);
        using var report = new ReportFolder(directory, title ?? $"Probe report: {source.Description} on {dataSpec}") { CommandLine = settings.CommandLine, FigureSettings = settings.Figures, ReplaceAnyFolder = settings.ReplaceAnyFolder };
        var b = new Builder(report, settings, data, dataSpec);
        // A model given as a file (ONNX) carries its weights: its hash is what identifies it.
        b.Provenance(new[] { (object)new { label = "model", model, model_sha256 = File.Exists(model) ? Sha256File(model) : null, weights = weights is null ? null : Path.GetFileName(weights), weights_sha256 = weights is null ? null : Sha256File(weights) } });
        const string why = "it needs a training run with checkpoints (probe report --run RUN), and this report has one model.";
        report.Define(TrainingSection, "Loss and accuracy of the network at every checkpoint of training.", "Falling loss and rising accuracy mean the network is learning; a gap between train and test accuracy means it overfits.");
        report.LeaveOut(TrainingSection, "Training curves are left out: " + why);
        b.DeadUnits(source);
        string layers = Builder.AnalysisLayers(source, data);
        b.Quality(null, source, layers);
        b.Similarity(null, source, layers);
        report.Define(EvolutionSection, Builder.EvolutionDefinition, Builder.EvolutionHowTo);
        report.LeaveOut(EvolutionSection, "The layer-evolution figures are left out: " + why);
        b.Summarise(null);
        return report.Write();
    }

    /// <summary>SHA-256 (hex) of a file's bytes.</summary>
    public static string Sha256File(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>
    /// SHA-256 (hex) of a data set's content: every sample's float32 values (little-endian, in order), then the labels
    /// (int32) when there are any. Two specs that load the same numbers have the same hash.
    /// </summary>
    public static string Sha256Data(IDataset data, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        int size = data.SampleSize();
        int batch = Math.Max(1, (1 << 22) / Math.Max(1, size));
        var buffer = new float[(long)batch * size];
        for (int start = 0; start < data.Count; start += batch)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Math.Min(batch, data.Count - start);
            var span = buffer.AsSpan(0, n * size);
            data.ReadBatch(start, n, span);
            h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(span));
        }
        if (data.Labels is { } labels) h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(labels.AsSpan()));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>
    /// When the units dead at the last checkpoint died, for the summary: how many were dead from initialisation and
    /// how many died in training, with the first and last epoch they died at (each unit's death is the checkpoint
    /// from which it stayed dead). "All dead since epoch 20" read as "they died at epoch 20" when 62 had died one
    /// by one from epoch 1 on.
    /// </summary>
    internal static string WhenDied(IReadOnlyList<UnitDeathRecord> deadEnd)
    {
        int init = deadEnd.Count(d => d.DeadFromInitialisation);
        var died = deadEnd.Where(d => d.DiedInTraining && d.DiedAtEpoch.HasValue).Select(d => d.DiedAtEpoch!.Value).ToList();
        int inTraining = deadEnd.Count(d => d.DiedInTraining);
        if (init == deadEnd.Count) return init == 1 ? "dead from initialisation" : "all dead from initialisation";
        string at = died.Count != inTraining ? ""
            : died.Min() == died.Max() ? string.Create(CultureInfo.InvariantCulture, $" at epoch {died[0]}")
            : string.Create(CultureInfo.InvariantCulture, $" between epochs {died.Min()} and {died.Max()}");
        string trained = string.Create(CultureInfo.InvariantCulture, $"{inTraining} died in training{at}");
        return init == 0 ? trained : string.Create(CultureInfo.InvariantCulture, $"{init} dead from initialisation, {trained}");
    }

    private sealed class Builder(ReportFolder report, ReportSettings settings, IDataset data, string dataSpec)
    {
        public const string EvolutionDefinition = "Each panel is a 2-D projection (PCA, or t-SNE) of one layer's activations for the same samples, coloured by class.";
        public const string EvolutionHowTo = "Rows are checkpoints, columns are layers; classes that form separate clusters are easy to tell apart from that layer. Panels are rotated onto the one above (orthogonal Procrustes), so motion down a column is change in the network.";

        private readonly CancellationToken _cancel = settings.Cancellation;
        private readonly IDataset _data = settings.MaxSamples is int m ? data.Subset(SampleChooser.Choose(data.Count, m, settings.Seed)) : data;
        private readonly List<string> _deadSummary = new();
        private readonly List<string> _findings = new();

        private void Progress(string stage, int done, int total) => settings.Progress?.Invoke(stage, done, total);

        private T Timed<T>(string stage, Func<T> work)
        {
            _cancel.ThrowIfCancellationRequested();
            var sw = Stopwatch.StartNew();
            var r = work();
            report.AddTiming(stage, sw.Elapsed.TotalSeconds);
            settings.Log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{stage}: done in {sw.Elapsed.TotalSeconds:0.0} s"));
            return r;
        }

        public void Provenance(object[] models)
        {
            string hash = Timed("data hash", () => Sha256Data(data, _cancel));
            report.Provenance = new
            {
                probe_version = ReportFolder.ProbeVersion,
                seed = settings.Seed,
                data = new { spec = dataSpec, name = data.Name, samples = data.Count, analysed_samples = _data.Count, sample_shape = data.SampleShape, class_names = data.ClassNames, content_sha256 = hash },
                models,
                sample_caps = new { dead_units = settings.MaxSamples, representation_quality = settings.Cap(settings.QualitySamples), layer_similarity = settings.Cap(settings.CkaSamples), layer_evolution = settings.Cap(settings.EvolutionSamples) },
            };
        }

        /// <summary>The layers the quality and similarity sections use: the activation layers and the output (last leaf).</summary>
        public static string AnalysisLayers(IActivationSource source, IDataset data)
        {
            source.Bind(data);
            var sites = source.Sites;
            var act = DeadUnitStudy.DefaultLayers(sites).Resolve(sites).ToList();
            var last = sites.LastOrDefault(s => s.Leaf);
            if (last != null && !act.Contains(last.BaseName) && !act.Contains(last.Name)) act.Add(last.Name);
            return string.Join(",", act.Distinct());
        }

        public void Training(IReadOnlyList<ReportRun> runs)
        {
            report.Define(TrainingSection, "Loss and accuracy of the network at every checkpoint of training (epoch 0 = the initialisation).",
                "Falling loss and rising accuracy mean the network is learning; a widening gap between train and test accuracy means it overfits.");
            var x = runs[0].Run.Checkpoints.Select(c => (double)c.Epoch).ToArray();
            bool same = runs.All(r => r.Run.Checkpoints.Select(c => (double)c.Epoch).SequenceEqual(x));
            string Name(ReportRun r, string what) => runs.Count > 1 ? $"{r.Label} {what}" : what;
            var use = same ? runs : runs.Take(1).ToList();
            var loss = new List<NamedSeries>();
            var acc = new List<NamedSeries>();
            foreach (var r in use)
            {
                var cps = r.Run.Checkpoints;
                loss.Add(new(Name(r, "train"), cps.Select(c => c.TrainLoss).ToArray()));
                if (cps.All(c => c.TestLoss.HasValue)) loss.Add(new(Name(r, "test"), cps.Select(c => c.TestLoss!.Value).ToArray()));
                acc.Add(new(Name(r, "train"), cps.Select(c => 100 * c.TrainAccuracy).ToArray()));
                if (cps.All(c => c.TestAccuracy.HasValue)) acc.Add(new(Name(r, "test"), cps.Select(c => 100 * c.TestAccuracy!.Value).ToArray()));
            }
            report.AddFigure(TrainingSection, "loss", Figures.LineChart(x, loss, null, "epoch", "cross-entropy loss", yMin: 0, style: report.StyleOf()),
                "Training and test loss at every checkpoint" + (use.Count > 1 ? " of each run." : "."));
            report.AddFigure(TrainingSection, "accuracy", Figures.LineChart(x, acc, null, "epoch", "accuracy (%)", yMax: 100, style: report.StyleOf()),
                "Training and test accuracy at every checkpoint" + (use.Count > 1 ? " of each run." : "."));
            foreach (var r in runs)
            {
                var info = r.Run.Info;
                report.AddTable(TrainingSection, $"Run '{r.Label}': {info.Model}, {info.Optimizer.Name}, learning rate {info.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}, batch {info.Optimizer.BatchSize}",
                    ["epoch", "train loss", "train accuracy", "test loss", "test accuracy"],
                    info.Checkpoints.Select(c => (IReadOnlyList<object?>)new object?[] { c.Epoch, c.TrainLoss, c.TrainAccuracy, c.TestLoss, c.TestAccuracy }));
                report.AddJson(TrainingSection, r.Label, new
                {
                    model = info.Model, data = info.Data, seed = info.Seed, optimizer = info.Optimizer,
                    test_rows = info.Split.TestIndices.Length, samples = info.Split.Samples,
                    checkpoints = info.Checkpoints.Select(c => new { c.Epoch, c.TrainLoss, c.TrainAccuracy, c.TestLoss, c.TestAccuracy }),
                });
                var last = info.Checkpoints[^1];
                _findings.Add(string.Create(CultureInfo.InvariantCulture,
                    $"Run '{r.Label}' trained {last.Epoch} epochs: train accuracy {100 * last.TrainAccuracy:0.0}%") +
                    (last.TestAccuracy is double t ? string.Create(CultureInfo.InvariantCulture, $", test accuracy {100 * t:0.0}%") : "") + ".");
            }
        }

        private void DefineDead()
        {
            report.Define(DeadSection,
                "A unit is dead when it never fires (its output is never > 0; a dead ReLU outputs 0) on any sample of the data, and dying when it fires on fewer than 1% of them. A channel of a feature map, or a feature of a token sequence, fires on a sample when any of its positions or tokens is > 0. " +
                "A sigmoid or tanh unit is saturated when on more than 99% of the samples its output sits within 1% of an end of its range (of a map or sequence: every position or token does), where it passes almost no gradient.",
                "A dead ReLU passes no signal and gets no gradient, so it is capacity the network has lost (a LeakyReLU, GELU or SiLU unit that never fires still passes a small gradient below 0 and can recover). The bars give each layer's alive/dying/dead fractions; " +
                "'bias too low' means no input like the data can switch the unit on (bias + |w| x the norm of the largest input it reads ≤ 0: an input row, a convolution's window, a token), 'data never reaches 0' means some input could but none of the data does, 'input always 0' that every value the unit reads is 0 on the data (the layer before it passes nothing), so only its bias, ≤ 0, is left.");
        }

        public void DeadUnits(IReadOnlyList<ReportRun> runs)
        {
            DefineDead();
            foreach (var r in runs)
            {
                string stage = $"dead units ({r.Label})";
                var study = new DeadUnitStudy(BatchSize: settings.BatchSize) { Device = settings.Device, Cancellation = _cancel, TokenMask = settings.TokenMask };
                int cps = r.Run.Checkpoints.Count, at = 0;
                var timeline = Timed(stage, () =>
                {
                    var t = study.RunCheckpoints(r.Run, _data, _ => Progress(stage, at++, cps));
                    Progress(stage, cps, cps); // the last progress line comes before the stage's "done in"
                    return t;
                });
                string pre = runs.Count > 1 ? $"run '{r.Label}': " : "";
                var final = timeline.Final;
                report.AddTable(DeadSection, $"{pre}dead units per layer at epoch {timeline.Epochs[^1]} ({final.Samples} samples)", DeadUnitFigures.TableHeaders, DeadUnitFigures.TableRows(final));
                foreach (var why in final.LeftOut) report.AddText(DeadSection, pre + "not judged: " + why);
                string n = runs.Count > 1 ? r.Label + " " : "";
                var bars = DeadUnitFigures.StyleFor(final, report.Style);
                report.AddFigure(DeadSection, n + "fractions", DeadUnitFigures.FractionBars(final, null, report.StyleOf(bars)),
                    $"{pre}fraction of alive, dying and dead units per layer at the last checkpoint.", bars);
                var grid = TimelineGrid.Create(timeline, basis: report.StyleOf(FigureStyle.Page));
                report.AddFigure(DeadSection, n + "timelines", grid.Save,
                    $"{pre}firing rate of every unit (rows) at every checkpoint (columns), one panel per layer. Units are sorted by their final rate, so units dead at the end form the dark band at the bottom of each panel.");
                var lines = DeadUnitFigures.StyleFor(timeline, report.Style);
                report.AddFigure(DeadSection, n + "dead fraction over training", DeadUnitFigures.DeadFractionOverTraining(timeline, null, report.StyleOf(lines)),
                    $"{pre}fraction of dead units per layer at every checkpoint. A line that rises and stays up means units die during training and do not come back.", lines);
                report.AddJson(DeadSection, n + "dead units", DeadUnitFigures.Json(final, timeline));
                foreach (var t in timeline.Layers)
                {
                    var deadEnd = t.Deaths.Where(d => d.DeadAtEnd).ToList();
                    if (deadEnd.Count == 0) continue;
                    _deadSummary.Add(string.Create(CultureInfo.InvariantCulture, $"{pre}{t.Layer}: {deadEnd.Count} of {t.Units} units dead at epoch {timeline.Epochs[^1]} ({WhenDied(deadEnd)})."));
                    if (deadEnd.Count > t.Units / 2) report.AddWarning(string.Create(CultureInfo.InvariantCulture, $"{pre}more than half of {t.Layer} is dead ({deadEnd.Count} of {t.Units})."));
                }
                if (timeline.Layers.All(t => t.Deaths.All(d => !d.DeadAtEnd)))
                    _deadSummary.Add($"{pre}no unit is dead at the last checkpoint in any of {timeline.Layers.Length} layers ({final.Samples} samples).");
            }
        }

        public void DeadUnits(IActivationSource source)
        {
            DefineDead();
            const string stage = "dead units";
            var study = new DeadUnitStudy(BatchSize: settings.BatchSize) { Device = settings.Device, Cancellation = _cancel, Progress = (d, t) => Progress(stage, d, t), TokenMask = settings.TokenMask };
            var result = Timed(stage, () => study.Run(source, _data));
            report.AddTable(DeadSection, $"Dead units per layer ({result.Samples} samples)", DeadUnitFigures.TableHeaders, DeadUnitFigures.TableRows(result));
            var bars = DeadUnitFigures.StyleFor(result, report.Style);
            report.AddFigure(DeadSection, "fractions", DeadUnitFigures.FractionBars(result, null, report.StyleOf(bars)), "Fraction of alive, dying and dead units per layer.", bars);
            report.AddText(DeadSection, "When units died is left out: it needs a training run with checkpoints (probe report --run RUN).");
            foreach (var why in result.LeftOut) report.AddText(DeadSection, "Not judged: " + why);
            report.AddJson(DeadSection, "dead units", DeadUnitFigures.Json(result));
            foreach (var l in result.Layers.Where(l => l.Stats.DeadUnits.Length > 0))
            {
                _deadSummary.Add(string.Create(CultureInfo.InvariantCulture, $"{l.Layer}: {l.Stats.DeadUnits.Length} of {l.Stats.Units} units dead") +
                    (l.Causes.Length > 0 ? $" ({DeadUnitFigures.CauseSummary(l)})." : "."));
                if (l.Stats.DeadFraction > 0.5) report.AddWarning(string.Create(CultureInfo.InvariantCulture, $"more than half of {l.Layer} is dead ({l.Stats.DeadUnits.Length} of {l.Stats.Units})."));
            }
            if (_deadSummary.Count == 0) _deadSummary.Add($"No unit is dead in any of {result.Layers.Length} layers ({result.Samples} samples).");
        }

        public void Quality(RunFolder? run, IActivationSource? source, string layers)
        {
            report.Define(QualitySection,
                "How well each layer's activations separate the classes: a separability ratio (between-class over within-class scatter) and the test accuracy of a linear probe (multinomial logistic regression) trained on that layer alone.",
                "Probe accuracy rising with depth means later layers make the classes linearly separable; a layer where it peaks and then falls, or a final layer below the best probe, points at where the network loses information.");
            const string stage = "representation quality";
            var study = new RepresentationStudy(new LayerSelector(layers), MapReduction.Mean, MaxSamples: settings.Cap(settings.QualitySamples), Seed: settings.Seed, BatchSize: settings.BatchSize) { Device = settings.Device, Cancellation = _cancel, TokenMask = settings.TokenMask };
            CheckpointQuality[] checkpoints;
            string split;
            ProbePlateauWarning[] warnings = [];
            try
            {
                if (run != null)
                {
                    var available = run.Checkpoints.Select(c => c.Epoch).ToArray();
                    int final = available[^1];
                    int[] epochs = new[] { 0, 1, 2, 5, final }.Where(available.Contains).Distinct().Order().ToArray();
                    var r = Timed(stage, () => study.Run(run, data, epochs));
                    checkpoints = r.Checkpoints;
                    split = r.Split;
                    warnings = r.Warnings;
                }
                else
                {
                    checkpoints = [Timed(stage, () => study.Run(source!, data))];
                    split = "seeded stratified split of the probe's samples";
                }
            }
            catch (UndefinedForDataException undefined)
            {
                // The labels cannot support the measures (a class of one sample): the rest of the report still holds.
                report.LeaveOut(QualitySection, "Representation quality is left out: " + undefined.Message);
                return;
            }
            var last = checkpoints[^1];
            int samples = last.Layers[0].TrainCount + last.Layers[0].TestCount;
            report.AddText(QualitySection, $"{samples} samples, the same at every checkpoint; probes train and are scored on the {split}. Feature maps are averaged per channel and token sequences per feature (the mean over positions or tokens).");
            var depth = RepresentationFigures.StyleFor(checkpoints, report.Style);
            report.AddFigure(QualitySection, "probe accuracy vs depth", RepresentationFigures.ProbeAccuracyVersusDepth(checkpoints, null, report.StyleOf(depth)),
                checkpoints.Length > 1 ? "Linear-probe test accuracy per layer, one line per checkpoint (dark = early, light = late)." : "Linear-probe test accuracy per layer.", depth);
            report.AddFigure(QualitySection, "separability vs depth", RepresentationFigures.SeparabilityVersusDepth(checkpoints, null, report.StyleOf(depth)),
                checkpoints.Length > 1 ? "Separability ratio per layer, one line per checkpoint." : "Separability ratio per layer.", depth);
            string at = last.Epoch is int e ? $" at epoch {e}" : "";
            report.AddTable(QualitySection, $"Per-layer quality{at}",
                ["layer", "features", "separability", "Fisher trace ratio", "probe train accuracy", "probe test accuracy", "probe macro accuracy", "probe log loss"],
                last.Layers.Select(l => (IReadOnlyList<object?>)new object?[] { l.Layer, l.Features, l.SeparabilityRatio, (object?)l.FisherTraceRatio ?? "-", l.ProbeTrainAccuracy, l.ProbeTestAccuracy, l.ProbeMacroAccuracy, l.ProbeLogLoss }));
            // An undefined Fisher criterion was an empty cell with no word of why (probe separability says it).
            if (last.Layers.Any(l => l.FisherTraceRatio is null))
                report.AddText(QualitySection, "Fisher trace ratio '-': undefined for that layer: more features than samples - classes (or collinear features) make the within-class scatter singular.");
            foreach (var w in warnings) report.AddWarning(w.Message);
            report.AddJson(QualitySection, "representation", new
            {
                split,
                samples,
                checkpoints = checkpoints.Select(c => new
                {
                    c.Epoch, c.NetworkTrainAccuracy, c.NetworkTestAccuracy,
                    layers = c.Layers.Select(l => new
                    {
                        l.Layer, l.Features, l.SeparabilityRatio, l.FisherTraceRatio, l.ProbeTrainAccuracy, l.ProbeTestAccuracy,
                        l.ProbeMacroAccuracy, l.ProbeLogLoss, l.ConfusionMatrix, l.Classes, l.TrainCount, l.TestCount,
                    }),
                }),
                warnings = warnings.Select(w => new { w.Layer, w.FromEpoch, w.ToEpoch, w.ProbeChangePoints, w.TrainRisePoints, w.Message }),
            });
            var best = last.Layers.MaxBy(l => l.ProbeTestAccuracy)!;
            var outLayer = last.Layers[^1];
            _findings.Add(string.Create(CultureInfo.InvariantCulture,
                $"Linear-probe accuracy peaks at {best.Layer} ({100 * best.ProbeTestAccuracy:0.0}% on held-out samples{at}); the first analysed layer, {last.Layers[0].Layer}, gives {100 * last.Layers[0].ProbeTestAccuracy:0.0}% and the last, {outLayer.Layer}, {100 * outLayer.ProbeTestAccuracy:0.0}%."));
        }

        public void Similarity(RunFolder? run, IActivationSource final, string layers)
        {
            report.Define(SimilaritySection,
                "Linear CKA (centered kernel alignment, Kornblith et al. 2019) between two layers' activations on the same samples: 1 = the same representation up to rotation and scale, 0 = unrelated.",
                "Bright blocks are groups of layers that represent the data alike; a layer with low CKA to all others changes the representation most. Between checkpoints, the diagonal says how much each layer moved in training.");
            const string stage = "layer similarity";
            // A layer constant over the samples (a ReLU layer whose units are all dead, and the layers fed only by it) has
            // no similarity to anything: it is left out and the others are compared; with fewer than two layers left, the
            // section is left out with the reason, and the rest of the report is written.
            var kept = new List<string> { CkaStudy.InputLayer };
            kept.AddRange(layers.Split(',', StringSplitOptions.RemoveEmptyEntries));
            var constant = new List<string>();
            CkaStudy Study() => new(Layers: string.Join(",", kept), MaxSamples: settings.Cap(settings.CkaSamples), Seed: settings.Seed, BatchSize: settings.BatchSize) { Device = settings.Device, Cancellation = _cancel, TokenMask = settings.TokenMask };
            CkaStudyResult Compare(string what, Func<CkaStudy, CkaStudyResult> run) => Timed(what, () =>
            {
                try { return run(Study()); }
                catch (ConstantLayerException e) when (e.Layers.Count > 0 && kept.Except(e.Layers).Count() >= 2)
                {
                    constant.AddRange(e.Layers.Except(constant));
                    kept.RemoveAll(e.Layers.Contains);
                    return run(Study());
                }
            });
            CkaStudyResult within;
            try { within = Compare(stage, s => s.Within(final, data)); }
            catch (ConstantLayerException e)
            {
                report.LeaveOut(SimilaritySection, "Layer similarity is left out: " + e.Message);
                return;
            }
            if (constant.Count > 0)
                report.AddText(SimilaritySection, string.Create(CultureInfo.InvariantCulture,
                $"Left out: {string.Join(", ", constant)} {(constant.Count == 1 ? "is" : "are")} constant over the {within.Samples} samples (a layer whose units are all dead gives 0 on every sample, and a layer fed only by it its bias), so CKA is undefined for {(constant.Count == 1 ? "it" : "them")}."));
            string at = run != null ? $"epoch {run.Checkpoints[^1].Epoch}" : "the model";
            report.AddFigure(SimilaritySection, "cka within", Heatmap(within.Table, "layer", "layer"),
                $"Linear CKA between every pair of layers of {at} on {within.Samples} samples (the input included).");
            object? crossJson = null;
            if (run != null)
            {
                int first = run.Checkpoints[0].Epoch, last = run.Checkpoints[^1].Epoch;
                using var a = ModelLoader.Open(run.Info.Model, run.CheckpointPath(first));
                CkaStudyResult? cross = null;
                int before = constant.Count;
                try { cross = Compare(stage + " across training", s => s.Cross(a, final, data, $"epoch {first}", $"epoch {last}")); }
                catch (ConstantLayerException e)
                {
                    report.AddText(SimilaritySection, $"CKA between epoch {first} and epoch {last} is left out: " + e.Message);
                }
                if (cross != null)
                {
                    if (constant.Count > before)
                        report.AddText(SimilaritySection, string.Create(CultureInfo.InvariantCulture,
                            $"Across training, also left out: {string.Join(", ", constant.Skip(before))}, constant over the samples at epoch {first} or epoch {last}."));
                    report.AddFigure(SimilaritySection, "cka across training", Heatmap(cross.Table, $"epoch {first}", $"epoch {last}"),
                        $"Linear CKA between the layers at epoch {first} (rows) and epoch {last} (columns), same {cross.Samples} samples. The diagonal shows how much each layer changed in training.");
                    crossJson = new { rows = cross.Table.RowLayers, columns = cross.Table.ColLayers, values = cross.Table.Values, samples = cross.Samples, method = cross.Method.ToString() };
                    var diag = cross.Table.RowLayers.Select((l, i) => (Layer: l, Value: cross.Table.Values[i][Array.IndexOf(cross.Table.ColLayers, l)])).Where(d => d.Layer != CkaStudy.InputLayer).ToList();
                    if (diag.Count > 0)
                    {
                        var moved = diag.MinBy(d => d.Value);
                        _findings.Add(string.Create(CultureInfo.InvariantCulture, $"{moved.Layer} changed most in training: CKA {moved.Value:0.00} between epoch {first} and epoch {last}."));
                    }
                }
            }
            report.AddJson(SimilaritySection, "cka", new
            {
                within = new { rows = within.Table.RowLayers, columns = within.Table.ColLayers, values = within.Table.Values, samples = within.Samples, method = within.Method.ToString() },
                across_training = crossJson,
                constant_layers = constant,
            });
            var names = within.Table.RowLayers;
            var pairs = new List<(string A, string B, double V)>();
            for (int i = 0; i < names.Length; i++)
                for (int j = i + 1; j < names.Length; j++) pairs.Add((names[i], names[j], within.Table.Values[i][j]));
            if (pairs.Count == 1)
                _findings.Add(string.Create(CultureInfo.InvariantCulture, $"CKA of {pairs[0].A} and {pairs[0].B}: {pairs[0].V:0.00}."));
            else if (pairs.Count > 1)
            {
                var hi = pairs.MaxBy(p => p.V);
                var lo = pairs.MinBy(p => p.V);
                _findings.Add(string.Create(CultureInfo.InvariantCulture, $"Most similar layers: {hi.A} and {hi.B} (CKA {hi.V:0.00}); least similar: {lo.A} and {lo.B} (CKA {lo.V:0.00})."));
            }
        }

        private Action<string> Heatmap(CkaMatrix table, string rowTitle, string colTitle)
        {
            var style = CkaFigures.StyleFor(table, null, rowTitle, colTitle, report.FigureSettings);
            var model = CkaFigures.Heatmap(table, null, rowTitle, colTitle, style);
            return path => FigureExporter.Save(model, path, style);
        }

        /// <summary>What the captions of scatter grids say of their scales: each panel fills its square (see <see cref="Figures.ScatterGrid"/>).</summary>
        private const string OwnScale = "Panels have no axes: each panel is scaled to fit its own points (one scale for both directions), so positions compare within a panel but spreads do not compare between panels.";

        public void Evolution(RunFolder run)
        {
            report.Define(EvolutionSection, EvolutionDefinition, EvolutionHowTo);
            bool maps = run.Spec.Kind != ModelKind.Mlp;
            const string stage = "layer evolution";
            var available = run.Checkpoints.Select(c => c.Epoch).ToArray();
            int last = available[^1];
            int[] epochs = new[] { 0, 1, 2, 5, last }.Where(available.Contains).Distinct().ToArray();
            var rows = data.Count > 20000 ? SampleChooser.Choose(data.Count, 20000, settings.Seed) : null;
            var memory = (rows is null ? data : data.Subset(rows)).ToMemory();
            string[]? classes = data.ClassNames?.ToArray();
            var pca = Timed(stage + " (pca)", () => new EvolutionStudy(Method: ProjectionMethod.Pca, MaxSamples: settings.Cap(settings.EvolutionSamples), Seed: settings.Seed, Epochs: epochs) { Device = settings.Device, Cancellation = _cancel }.Run(run, memory));
            var grid = EvolutionFigures.Grid(pca, classes, basis: report.StyleOf(FigureStyle.Page));
            report.AddFigure(EvolutionSection, "pca", grid.Save,
                string.Create(CultureInfo.InvariantCulture, $"The same {pca.SampleIndices.Length} of the {data.Count} samples of {data.Name} (stratified by class, seed {settings.Seed}) in every panel, coloured by class: rows are checkpoints, columns are layers (") +
                (maps ? "features in brackets; a convolutional layer's feature maps are averaged per channel" : "width in brackets") +
                "), each panel the first two principal components of that layer, rotated onto the panel above (orthogonal Procrustes). " + OwnScale);
            // The last column of the PCA grid before the output layer (EvolutionStudy.DefaultLayers).
            var columns = EvolutionStudy.DefaultLayers(run.Spec).Split(',');
            string lastHidden = columns.Length > 1 ? columns[^2] : columns[^1];
            var tsne = Timed(stage + " (t-sne)", () => new EvolutionStudy(Layers: lastHidden, Method: ProjectionMethod.Tsne, MaxSamples: settings.Cap(settings.EvolutionSamples), Seed: settings.Seed,
                Epochs: [last], IncludeInput: true, TsneIterations: settings.TsneIterations) { Device = settings.Device, Cancellation = _cancel }.Run(run, memory));
            var tfig = EvolutionFigures.Grid(tsne, classes, basis: report.StyleOf(FigureStyle.Column with { WidthInches = 4.8 }));
            report.AddFigure(EvolutionSection, "tsne input vs last hidden", tfig.Save, string.Create(CultureInfo.InvariantCulture,
                $"t-SNE (perplexity {tsne.Perplexity:0}, seed {settings.Seed}) of the input and of {lastHidden} at epoch {last}, the same {tsne.SampleIndices.Length} samples. {OwnScale} Trustworthiness (k = 10): input {tsne.Panels[0][0].Trustworthiness:0.000}, {lastHidden} {tsne.Panels[0][1].Trustworthiness:0.000}."));
            report.AddTable(EvolutionSection, "Per panel: variance explained by the first two principal components, t-SNE KL divergence, trustworthiness (k = 10)",
                ["method", "epoch", "layer", "features", "PC1+PC2 variance", "KL divergence", "trustworthiness"],
                pca.Panels.SelectMany(r => r).Concat(tsne.Panels.SelectMany(r => r)).Select(p => (IReadOnlyList<object?>)new object?[]
                {
                    p.KlDivergence is null ? "pca" : "tsne", p.Layer == EvolutionStudy.InputLayer ? null : p.Epoch, p.Layer, p.Features,
                    p.ExplainedVarianceRatio is { } v ? v[0] + v[1] : null, p.KlDivergence, p.Trustworthiness,
                }));
            // The study ran on the 20,000-row sample when there was one: its indices are rows of that sample, reported as rows of the data.
            var sampleRows = rows is null ? pca.SampleIndices : pca.SampleIndices.Select(i => rows[i]).ToArray();
            report.AddJson(EvolutionSection, "evolution", new { pca.Epochs, pca.Layers, samples = pca.SampleIndices.Length, sample_indices = sampleRows, tsne_perplexity = tsne.Perplexity });
        }

        public void Summarise(string? mainLabel)
        {
            foreach (var s in _deadSummary) report.AddSummary(s);
            foreach (var s in _findings) report.AddSummary(s);
        }
    }
}
