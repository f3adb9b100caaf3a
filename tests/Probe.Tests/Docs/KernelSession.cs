using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Probe.Tests.Docs;

/// <summary>What one submission did in the kernel: its outputs as Jupyter (nbformat 4) output objects.</summary>
internal sealed record CellRun(bool Succeeded, string? Error, IReadOnlyList<JsonObject> Outputs)
{
    public IEnumerable<string> Text(string mimeType) =>
        Outputs.Where(o => o["data"]?[mimeType] != null).Select(o => o["data"]![mimeType]!.GetValue<string>());

    public string StandardOutput => string.Concat(Outputs.Where(o => (string?)o["output_type"] == "stream" && (string?)o["name"] == "stdout")
                                                         .Select(o => o["text"]!.GetValue<string>()));
}

/// <summary>
/// A real .NET Interactive kernel (`dotnet interactive stdio`, the local tool pinned in .config/dotnet-tools.json),
/// driven through its JSON-lines protocol: a <c>SubmitCode</c> command per cell, then the events of that command
/// (<c>StandardOutputValueProduced</c>, <c>DisplayedValueProduced</c>, <c>ReturnValueProduced</c>, <c>ErrorProduced</c>)
/// until <c>CommandSucceeded</c> or <c>CommandFailed</c>. This is the kernel VS Code Polyglot Notebooks and Jupyter run.
/// </summary>
internal sealed class KernelSession : IAsyncDisposable
{
    readonly Process process;
    // The kernel's own temp folder (its TMPDIR): the notebooks write their figures under Path.GetTempPath(), so two
    // test runs at once on one machine (a CI clone beside a working copy) never write into each other's files.
    readonly string tempDir;
    readonly Channel<JsonElement> events = Channel.CreateUnbounded<JsonElement>();
    readonly StringBuilder stderr = new();
    int next;

    KernelSession(Process process, string tempDir) => (this.process, this.tempDir) = (process, tempDir);

    public static async Task<KernelSession> StartAsync(string workingDirectory, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var a in new[] { "tool", "run", "dotnet-interactive", "stdio", "--default-kernel", "csharp" }) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        string temp = Directory.CreateTempSubdirectory("probe-kernel-").FullName;
        psi.Environment["TMPDIR"] = temp;
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet interactive");
        var session = new KernelSession(p, temp);
        _ = Task.Run(session.ReadEventsAsync);
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (session.stderr) session.stderr.AppendLine(e.Data); };
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var ev = await session.events.Reader.ReadAsync(cts.Token);
                if (ev.GetProperty("eventType").GetString() == "KernelReady") return session;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            await session.DisposeAsync();
            throw new InvalidOperationException("dotnet interactive did not report KernelReady within " + timeout + " (run `dotnet tool restore`?). stderr: " + session.Stderr);
        }
    }

    string Stderr { get { lock (stderr) return stderr.ToString(); } }

    async Task ReadEventsAsync()
    {
        try
        {
            while (await process.StandardOutput.ReadLineAsync() is string line)
            {
                if (line.Length == 0 || line[0] != '{') continue;
                JsonElement ev;
                try { ev = JsonDocument.Parse(line).RootElement.Clone(); }
                catch (JsonException) { continue; }
                if (ev.TryGetProperty("eventType", out _)) await events.Writer.WriteAsync(ev);
            }
        }
        finally { events.Writer.TryComplete(); }
    }

    /// <summary>Runs one cell and collects what it produced, as a notebook host would show it.</summary>
    public async Task<CellRun> SubmitAsync(string code, TimeSpan timeout)
    {
        string token = "probe-" + next++;
        var command = new JsonObject
        {
            ["token"] = token,
            ["commandType"] = "SubmitCode",
            ["command"] = new JsonObject { ["code"] = code, ["targetKernelName"] = "csharp" },
        };
        await process.StandardInput.WriteLineAsync(command.ToJsonString());
        await process.StandardInput.FlushAsync();

        var outputs = new List<JsonObject>();
        var displays = new Dictionary<string, JsonObject>();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var ev = await events.Reader.ReadAsync(cts.Token);
                string? evToken = ev.TryGetProperty("command", out var cmd) && cmd.ValueKind == JsonValueKind.Object
                                  && cmd.TryGetProperty("token", out var t) ? t.GetString() : null;
                if (evToken != token && (evToken == null || !evToken.StartsWith(token + ".", StringComparison.Ordinal))) continue;
                string type = ev.GetProperty("eventType").GetString()!;
                var body = ev.GetProperty("event");
                switch (type)
                {
                    case "StandardOutputValueProduced":
                    case "StandardErrorValueProduced":
                        AppendStream(outputs, type.StartsWith("StandardOutput") ? "stdout" : "stderr", FormattedValues(body).Values.FirstOrDefault() ?? "");
                        break;
                    case "DisplayedValueProduced":
                    case "ReturnValueProduced":
                    {
                        var data = new JsonObject();
                        foreach (var (mime, value) in FormattedValues(body)) data[mime] = value;
                        var output = type == "ReturnValueProduced"
                            ? new JsonObject { ["output_type"] = "execute_result", ["data"] = data, ["metadata"] = new JsonObject(), ["execution_count"] = null }
                            : new JsonObject { ["output_type"] = "display_data", ["data"] = data, ["metadata"] = new JsonObject() };
                        outputs.Add(output);
                        if (body.TryGetProperty("valueId", out var id) && id.ValueKind == JsonValueKind.String) displays[id.GetString()!] = output;
                        break;
                    }
                    case "DisplayedValueUpdated":
                        if (body.TryGetProperty("valueId", out var uid) && uid.ValueKind == JsonValueKind.String && displays.TryGetValue(uid.GetString()!, out var shown))
                        {
                            var data = new JsonObject();
                            foreach (var (mime, value) in FormattedValues(body)) data[mime] = value;
                            shown["data"] = data;
                        }
                        break;
                    case "ErrorProduced":
                        outputs.Add(ErrorOutput(body.GetProperty("message").GetString() ?? "error"));
                        break;
                    case "CommandFailed" when evToken == token:
                    {
                        string message = body.GetProperty("message").GetString() ?? "failed";
                        outputs.Add(ErrorOutput(message));
                        return new CellRun(false, message, outputs);
                    }
                    case "CommandSucceeded" when evToken == token:
                        return new CellRun(true, null, outputs);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            return new CellRun(false, "the kernel did not finish the cell within " + timeout + ". stderr: " + Stderr, outputs);
        }
    }

    static Dictionary<string, string> FormattedValues(JsonElement body)
    {
        var values = new Dictionary<string, string>();
        if (body.TryGetProperty("formattedValues", out var list))
            foreach (var v in list.EnumerateArray())
                if (!(v.TryGetProperty("suppressDisplay", out var s) && s.ValueKind == JsonValueKind.True))
                    values[v.GetProperty("mimeType").GetString()!] = v.GetProperty("value").GetString() ?? "";
        return values;
    }

    static void AppendStream(List<JsonObject> outputs, string name, string text)
    {
        if (outputs.Count > 0 && (string?)outputs[^1]["output_type"] == "stream" && (string?)outputs[^1]["name"] == name)
            outputs[^1]["text"] = outputs[^1]["text"]!.GetValue<string>() + text;
        else
            outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = name, ["text"] = text });
    }

    static JsonObject ErrorOutput(string message) => new()
    {
        ["output_type"] = "error",
        ["ename"] = "Error",
        ["evalue"] = message.Split('\n')[0],
        ["traceback"] = new JsonArray(message.Split('\n').Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
    };

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                await process.StandardInput.WriteLineAsync(new JsonObject { ["token"] = "quit", ["commandType"] = "Quit", ["command"] = new JsonObject() }.ToJsonString());
                process.StandardInput.Close();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await process.WaitForExitAsync(cts.Token); }
                catch (OperationCanceledException) { process.Kill(entireProcessTree: true); }
            }
        }
        catch (Exception) when (!process.HasExited) { process.Kill(entireProcessTree: true); }
        process.Dispose();
        try { Directory.Delete(tempDir, recursive: true); }
        catch (IOException) { }   // a file still held open: the folder is under the system's temp and harmless
    }
}
