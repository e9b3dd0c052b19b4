//! Typed calls for the deployment around the keys: policy and workload components,
//! approvals and quorum settings, client certificates, the audit trail. Each names its
//! method and path, the request type it sends and the answer type it reads.

use kastell_proto::api::{
    AccessKeyIssued, AccessKeyList, AccessKeyQuery, AccessKeyRequest, AccessKeyRevoked,
    ApprovalDetail, ApprovalList, ApprovalQuery, ApproveRequest, ApproveResponse, AuditKeyResponse,
    AuditPage, ClientDetail, ClientList, ClientQuery, ClientRequest, ClientResponse, Gated, Health,
    InvokeRequest, InvokeResponse, PolicyList, PolicyResponse, QuorumSetting, QuorumSettings,
    RangeQuery, RevokeRequest, RevokeResponse, SetQuorumRequest, VerifyReport, WorkloadList,
    WorkloadResponse,
};

use super::{Client, RemoteError, segment};

const WASM: &str = "application/wasm";

/// Policy and workload components.
impl Client {
    /// `POST /v1/policies`: a policy component's bytes.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn add_policy(&self, wasm: Vec<u8>) -> Result<PolicyResponse, RemoteError> {
        self.post_bytes("/v1/policies", WASM, wasm)
    }

    /// `GET /v1/policies`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn list_policies(&self) -> Result<PolicyList, RemoteError> {
        self.get("/v1/policies")
    }

    /// `POST /v1/workloads`: a workload component's bytes.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn add_workload(&self, wasm: Vec<u8>) -> Result<WorkloadResponse, RemoteError> {
        self.post_bytes("/v1/workloads", WASM, wasm)
    }

    /// `GET /v1/workloads`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn list_workloads(&self) -> Result<WorkloadList, RemoteError> {
        self.get("/v1/workloads")
    }

    /// `POST /v1/workloads/{measurement}/invoke`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn invoke_workload(
        &self,
        measurement: &str,
        request: &InvokeRequest,
    ) -> Result<InvokeResponse, RemoteError> {
        self.post(
            &format!("/v1/workloads/{}/invoke", segment(measurement)),
            request,
        )
    }
}

/// Approvals, quorum settings and client certificates (crypto-officer).
impl Client {
    /// `GET /v1/approvals`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn list_approvals(&self, query: &ApprovalQuery) -> Result<ApprovalList, RemoteError> {
        self.get_query("/v1/approvals", query)
    }

    /// `GET /v1/approvals/{id}`: the operation and the bytes an approval signs.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn approval(&self, id: &str) -> Result<ApprovalDetail, RemoteError> {
        self.get(&format!("/v1/approvals/{}", segment(id)))
    }

    /// `POST /v1/approvals/{id}`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn approve(
        &self,
        id: &str,
        request: &ApproveRequest,
    ) -> Result<ApproveResponse, RemoteError> {
        self.post(&format!("/v1/approvals/{}", segment(id)), request)
    }

    /// `GET /v1/quorum`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn quorum(&self) -> Result<QuorumSettings, RemoteError> {
        self.get("/v1/quorum")
    }

    /// `PUT /v1/quorum/{class}` (quorum class `quorum`).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn set_quorum(
        &self,
        class: &str,
        request: &SetQuorumRequest,
    ) -> Result<Gated<QuorumSetting>, RemoteError> {
        self.put(&format!("/v1/quorum/{}", segment(class)), request)
    }

    /// `POST /v1/clients` (quorum class `issue-officer` for officer certificates).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn issue_client(
        &self,
        request: &ClientRequest,
    ) -> Result<Gated<ClientResponse>, RemoteError> {
        self.post("/v1/clients", request)
    }

    /// `GET /v1/clients`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn list_clients(&self, query: &ClientQuery) -> Result<ClientList, RemoteError> {
        self.get_query("/v1/clients", query)
    }

    /// `GET /v1/clients/{serial}`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn client(&self, serial: &str) -> Result<ClientDetail, RemoteError> {
        self.get(&format!("/v1/clients/{}", segment(serial)))
    }

    /// `POST /v1/clients/{serial}/revoke` (quorum class `issue-officer` for an officer's
    /// certificate).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn revoke_client(
        &self,
        serial: &str,
        request: &RevokeRequest,
    ) -> Result<Gated<RevokeResponse>, RemoteError> {
        self.post(&format!("/v1/clients/{}/revoke", segment(serial)), request)
    }
}

/// Access keys of the AWS endpoint.
impl Client {
    /// `POST /v1/access-keys` (quorum class `issue-officer` for an officer's key,
    /// `issue-client` for the others).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn issue_access_key(
        &self,
        request: &AccessKeyRequest,
    ) -> Result<Gated<AccessKeyIssued>, RemoteError> {
        self.post("/v1/access-keys", request)
    }

    /// `GET /v1/access-keys`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn list_access_keys(&self, query: &AccessKeyQuery) -> Result<AccessKeyList, RemoteError> {
        self.get_query("/v1/access-keys", query)
    }

    /// `POST /v1/access-keys/{id}/revoke` (quorum class `issue-officer` for an officer's
    /// key).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn revoke_access_key(
        &self,
        id: &str,
        request: &RevokeRequest,
    ) -> Result<Gated<AccessKeyRevoked>, RemoteError> {
        self.post(&format!("/v1/access-keys/{}/revoke", segment(id)), request)
    }

    /// `GET /v1/access-keys/collect/{operation}`: the access key an approved operation
    /// issued, its secret sealed to the request's public key.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn collect_access_key(&self, operation: &str) -> Result<AccessKeyIssued, RemoteError> {
        self.get(&format!("/v1/access-keys/collect/{}", segment(operation)))
    }
}

/// The audit trail (auditor) and the system endpoints.
impl Client {
    /// `GET /v1/audit`: a page of records.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn audit_page(&self, query: &RangeQuery) -> Result<AuditPage, RemoteError> {
        self.get_query("/v1/audit", query)
    }

    /// `POST /v1/audit/verify`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn verify_audit(&self) -> Result<VerifyReport, RemoteError> {
        self.post_empty("/v1/audit/verify")
    }

    /// `GET /v1/audit/public-key`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn audit_public_key(&self) -> Result<AuditKeyResponse, RemoteError> {
        self.get("/v1/audit/public-key")
    }

    /// `GET /healthz`.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn health(&self) -> Result<Health, RemoteError> {
        self.get("/healthz")
    }
}
