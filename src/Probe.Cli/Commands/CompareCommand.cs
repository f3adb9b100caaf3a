using System.CommandLine;
using System.Globalization;
using Probe.Data;
using Probe.Models;
using Probe.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe compare</c>: CKA between every layer of model A (rows) and every layer of model B (columns) on the same
/// inputs. A and B are two checkpoints of one run (<c>--run DIR --epochs 0,final</c>), the final (or chosen)
/// checkpoints of two runs (<c>--run DIR --run-b DIR2</c>, e.g. two seeds), or two spec + weights pairs.
/// </summary>
internal static class CompareCommand
{
    public static Command Create(CliContext ctx)
    {
        var run = CliOptions.Run();
        var runB = new Option<string?>("--run-b") { Description = "A second run folder: compares --run (A) with it (B)." };
        var epochs = new Option<string?>("--epochs") { Description = "Two checkpoints 'EA,EB' (numbers or 'final'): of --run, or of --run and --run-b. Default: 0,final for one run; final,final for two." };
        var modelA = new Option<string?>("--model-a") { Description = "Model A: a spec or an ONNX file (instead of --run)." };
        var weightsA = new Option<string?>("--weights-a") { Description = "Model A's weights." };
        var modelB = new Option<string?>("--model-b") { Description = "Model B: a spec or an ONNX file (default: --model-a)." };
        var weightsB = new Option<string?>("--weights-b") { Description = "Model B's weights." };
        var random = new Option<bool>("--random-weights") { Description = "Compare the models' seeded random initialisations (untrained) instead of trained weights." };
        var data = new Option<string?>("--data") { Description = "Data source (default for runs: the run's data, restricted by --split)." };
        var split = new Option<string>("--split") { Description = "For runs without --data: test (held-out rows, default), train or all.", DefaultValueFactory = _ => "test" };
        var o = new CkaOptions();
        var cmd = new Command("compare",
            "CKA between the layers of two models on the same inputs (rows: A's layers, columns: B's layers). " +
            "Two checkpoints of a run: probe compare --run DIR [--epochs 0,final]. Two runs (e.g. two seeds): probe compare --run DIR --run-b DIR2 [--epochs final,final]. " +
            "Two models: probe compare --model-a SPEC --weights-a FILE [--model-b SPEC] --weights-b FILE --data DATA. " +
            "Runs use their own data's held-out split unless --data is given.")
            { run, runB, epochs, modelA, weightsA, modelB, weightsB, random, data, split };
        o.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            bool hasRun = r.GetResult(run) != null, hasModels = r.GetResult(modelA) != null;
            if (hasRun == hasModels) r.AddError("Give either --run (checkpoints of runs) or --model-a with --weights-a/--weights-b (two models).");
            if (r.GetResult(runB) != null && !hasRun) r.AddError("--run-b needs --run.");
            if (hasModels && r.GetResult(data) == null) r.AddError("--model-a needs --data (the inputs to run through both models).");
            if (hasModels && r.GetResult(epochs) != null) r.AddError("--epochs is for --run.");
            if (hasModels)
            {
                string ma = r.GetValue(modelA)!, mb = r.GetValue(modelB) ?? ma;
                bool untrained = r.GetValue(random);
                if (untrained && (r.GetResult(weightsA) != null || r.GetResult(weightsB) != null)) r.AddError("Give --weights-a/--weights-b or --random-weights, not both.");
                if (!untrained && !ModelLoader.CarriesWeights(ma) && r.GetResult(weightsA) == null) r.AddError($"--model-a {ma} needs --weights-a FILE (the trained weights); without them the model would have random weights (add --random-weights if that is what you want).");
                if (!untrained && !ModelLoader.CarriesWeights(mb) && r.GetResult(weightsB) == null) r.AddError($"--model-b {mb} needs --weights-b FILE (the trained weights); without them the model would have random weights (add --random-weights if that is what you want).");
            }
            if (hasRun && (r.GetResult(weightsA) != null || r.GetResult(weightsB) != null || r.GetResult(modelB) != null))
                r.AddError("--weights-a, --weights-b and --model-b are for --model-a, not --run.");
            if (r.GetResult(split) != null && r.GetValue(split) is not ("test" or "train" or "all")) r.AddError($"--split must be test, train or all, not '{r.GetValue(split)}'.");
            if (r.GetValue(epochs) is string e && e.Split(',').Length != 2) r.AddError($"--epochs takes two checkpoints 'EA,EB', got '{e}'.");
            o.Validate(r);
        });
        cmd.SetAction(p =>
        {
            int seed = p.GetValue(o.Seed);
            Probe.Capture.IActivationSource a, b;
            string nameA, nameB;
            IDataset dataset;
            if (p.GetValue(run) is string dirA)
            {
                var ra = RunFolder.Load(dirA);
                var rb = p.GetValue(runB) is string dirB ? RunFolder.Load(dirB) : null;
                var parts = (p.GetValue(epochs) ?? (rb == null ? "0,final" : "final,final")).Split(',', StringSplitOptions.TrimEntries);
                int ea = Epoch(ra, parts[0]), eb = Epoch(rb ?? ra, parts[1]);
                nameA = rb == null ? $"epoch {ea}" : $"{Path.GetFileName(ra.Directory)} epoch {ea}";
                nameB = rb == null ? $"epoch {eb}" : $"{Path.GetFileName(rb.Directory)} epoch {eb}";
                if (rb != null && rb.Info.Model != ra.Info.Model) nameB += $" ({rb.Info.Model})";
                dataset = p.GetValue(data) is string ds ? CliOptions.LoadData(ds) : RunData(ra, p.GetValue(split)!);
                a = new Probe.Capture.ModuleSource(ra.BuildModel(ea), ownsModel: true);
                b = new Probe.Capture.ModuleSource((rb ?? ra).BuildModel(eb), ownsModel: true);
            }
            else
            {
                string specA = p.GetValue(modelA)!;
                a = ModelLoader.Open(specA, p.GetValue(weightsA), seed);
                b = ModelLoader.Open(p.GetValue(modelB) ?? specA, p.GetValue(weightsB), seed);
                nameA = p.GetValue(weightsA) is string wa ? Path.GetFileNameWithoutExtension(wa) : "A";
                nameB = p.GetValue(weightsB) is string wb ? Path.GetFileNameWithoutExtension(wb) : "B";
                dataset = CliOptions.OpenData(p.GetValue(data)!);
            }
            using (a)
            using (b)
            {
                var result = o.Study(p).Cross(a, b, dataset, nameA, nameB);
                o.Write(ctx, p, result, "compare", "A: " + nameA, "B: " + nameB);
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static int Epoch(RunFolder run, string text)
    {
        if (text is "final" or "last") return run.Checkpoints.Count > 0 ? run.Checkpoints[^1].Epoch : throw new ProbeException($"Run '{run.Directory}' has no checkpoints.");
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int e))
            throw new ProbeException($"--epochs: '{text}' is neither a number nor 'final'.");
        run.Checkpoint(e);
        return e;
    }

    /// <summary>The run's data set restricted to its test split (or train rows, or all).</summary>
    private static Dataset RunData(RunFolder run, string split)
    {
        var all = CliOptions.LoadData(run.Info.Data);
        if (all.Count != run.Info.Split.Samples)
            throw new ProbeException($"Run '{run.Directory}' was trained on {run.Info.Split.Samples} samples of '{run.Info.Data}', which now has {all.Count}; pass --data.");
        return split switch
        {
            "test" when run.Info.Split.TestIndices.Length >= 4 => all.Subset(run.Info.Split.TestIndices, all.Name + " (test split)"),
            "test" => throw new ProbeException($"Run '{run.Directory}' has only {run.Info.Split.TestIndices.Length} test rows; use --split all or --data."),
            "train" => all.Subset(run.TrainIndices, all.Name + " (train split)"),
            _ => all,
        };
    }
}
