using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Probe.Reporting;

/// <summary>
/// The one JSON format Probe writes (CLI --json, report.json): indented, camelCase properties, enums as strings,
/// dictionary keys in ordinal order, invariant numbers; NaN and infinities are refused with a <see cref="ProbeException"/>
/// naming the field.
/// </summary>
public static class JsonOutput
{
    /// <summary>The shared serializer options (read-only).</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions(JsonNamingPolicy.CamelCase);

    /// <summary>The options of report.json: the same rules with snake_case property names (the report's one naming style).</summary>
    public static JsonSerializerOptions ReportOptions { get; } = CreateOptions(JsonNamingPolicy.SnakeCaseLower);

    private static JsonSerializerOptions CreateOptions(JsonNamingPolicy naming)
    {
        var o = new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = naming,
            DictionaryKeyPolicy = null,
            NumberHandling = JsonNumberHandling.Strict,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            IncludeFields = false,
            MaxDepth = 64,
            NewLine = "\n",
        };
        o.Converters.Add(new FiniteDoubleConverter());
        o.Converters.Add(new FiniteSingleConverter());
        o.Converters.Add(new JsonStringEnumConverter());
        o.Converters.Add(new SortedDictionaryConverterFactory());
        o.TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver();
        o.MakeReadOnly();
        return o;
    }

    /// <summary>Serializes <paramref name="value"/> as indented JSON; throws <see cref="ProbeException"/> on NaN/Infinity.</summary>
    public static string Serialize(object? value, string what = "value")
    {
        try
        {
            if (PlainJsonWriter.TryWrite(value, Options, out var plain))
            {
#if DEBUG
                // Every test that prints or writes JSON checks the fast writer against System.Text.Json.
                var reference = JsonSerializer.Serialize(value, value?.GetType() ?? typeof(object), Options);
                if (reference != plain)
                    throw new InvalidOperationException($"PlainJsonWriter differs from System.Text.Json for {value?.GetType()}:\n{plain}\n---\n{reference}");
#endif
                return plain;
            }
            return JsonSerializer.Serialize(value, value?.GetType() ?? typeof(object), Options);
        }
        catch (JsonException ex)
        {
            throw Refused(ex, what);
        }
    }

    /// <summary>Serializes to a JSON tree (same rules as <see cref="Serialize"/>).</summary>
    public static JsonNode? ToNode(object? value, string what = "value", JsonSerializerOptions? options = null)
    {
        try
        {
            return JsonSerializer.SerializeToNode(value, value?.GetType() ?? typeof(object), options ?? Options);
        }
        catch (JsonException ex)
        {
            throw Refused(ex, what);
        }
    }

    /// <summary>Writes <paramref name="value"/> as JSON to <paramref name="path"/> (UTF-8, no BOM, trailing newline).</summary>
    public static void Write(string path, object? value, string what = "value")
    {
        var text = Serialize(value, what);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllText(path, text + "\n", new System.Text.UTF8Encoding(false));
    }

    private static ProbeException Refused(JsonException ex, string what)
    {
        string field = (string.IsNullOrEmpty(ex.Path) ? "$" : ex.Path!) + (ex.Data["probe.suffix"] as string ?? "");
        string reason = ex.Data["probe.reason"] as string ?? ex.Message;
        return new ProbeException($"Cannot write {what} as JSON: field {field} {reason}", ex);
    }

    private static JsonException NonFinite(string number)
    {
        var ex = new JsonException($"is {number}; JSON has no NaN or infinity (fix the value or drop the field).");
        ex.Data["probe.reason"] = $"is {number}; JSON has no NaN or infinity (fix the value or drop the field).";
        return ex;
    }

    private sealed class FiniteDoubleConverter : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (!double.IsFinite(value)) throw NonFinite(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteNumberValue(value);
        }
    }

    private sealed class FiniteSingleConverter : JsonConverter<float>
    {
        public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetSingle();

        public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options)
        {
            if (!float.IsFinite(value)) throw NonFinite(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteNumberValue(value);
        }
    }

    /// <summary>Writes string-keyed dictionaries with keys in ordinal order, so output never depends on insertion order.</summary>
    private sealed class SortedDictionaryConverterFactory : JsonConverterFactory
    {
        public override bool CanConvert(Type typeToConvert) => ValueType(typeToConvert) != null;

        private static Type? ValueType(Type t)
        {
            if (!t.IsGenericType) return null;
            var def = t.GetGenericTypeDefinition();
            if (def != typeof(Dictionary<,>) && def != typeof(IDictionary<,>) && def != typeof(IReadOnlyDictionary<,>)
                && def != typeof(SortedDictionary<,>))
                return null;
            var args = t.GetGenericArguments();
            return args[0] == typeof(string) ? args[1] : null;
        }

        public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options)
        {
            var valueType = ValueType(typeToConvert)!;
            var conv = typeof(SortedDictionaryConverter<,>).MakeGenericType(typeToConvert, valueType);
            return (JsonConverter)Activator.CreateInstance(conv)!;
        }
    }

    private sealed class SortedDictionaryConverter<TDict, TValue> : JsonConverter<TDict>
        where TDict : IEnumerable<KeyValuePair<string, TValue>>
    {
        public override TDict Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var dict = typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(SortedDictionary<,>)
                ? (IDictionary<string, TValue>)new SortedDictionary<string, TValue>(StringComparer.Ordinal)
                : new Dictionary<string, TValue>();
            if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("expected an object");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                string key = reader.GetString()!;
                reader.Read();
                dict[key] = JsonSerializer.Deserialize<TValue>(ref reader, options)!;
            }
            return (TDict)dict;
        }

        public override void Write(Utf8JsonWriter writer, TDict value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            foreach (var kv in value.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                writer.WritePropertyName(kv.Key);
                try
                {
                    JsonSerializer.Serialize(writer, kv.Value, options);
                }
                catch (JsonException inner)
                {
                    // The nested call loses the outer path: rethrow without a path, carrying the key, so the outer
                    // serializer prefixes the dictionary's own path.
                    string innerPath = string.IsNullOrEmpty(inner.Path) || inner.Path == "$" ? "" : inner.Path![1..];
                    var ex = new JsonException(inner.Message, inner);
                    ex.Data["probe.reason"] = inner.Data["probe.reason"] as string ?? inner.Message;
                    ex.Data["probe.suffix"] = "[\"" + kv.Key + "\"]" + innerPath + (inner.Data["probe.suffix"] as string ?? "");
                    throw ex;
                }
            }
            writer.WriteEndObject();
        }
    }
}
